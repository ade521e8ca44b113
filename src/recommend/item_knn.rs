//! Item–item nearest neighbours (exact sparse similarities), as in the `implicit` library's
//! `ItemItemRecommender`: a customer's score for item j is Σ over their items i of
//! weight(customer, i) × similarity(i, j), where each item keeps only its top neighbours.

use serde::{Deserialize, Serialize};

use super::interactions::SparseRows;
use super::{invalid_option, RecommendError};
use crate::pool;

/// How two items' customer vectors are compared.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Similarity {
    /// dot(a, b) / (|a| |b| + shrinkage) on the summed weights.
    Cosine,
    /// Dot product of BM25-weighted vectors (`implicit.nearest_neighbours.bm25_weight`
    /// applied to the item × customer matrix): weight r becomes
    /// r (k1 + 1) / (k1 · lengthnorm(item) + r) × idf(customer), with
    /// lengthnorm = 1 - b + b · item total / mean item total and
    /// idf = ln(n items) - ln(1 + items of the customer), floored at 0.
    /// Down-weights customers who interact with everything and very popular items.
    Bm25 { k1: f32, b: f32 },
}

impl Similarity {
    /// BM25 with the `implicit` library's defaults (k1 = 1.2, b = 0.75).
    pub fn bm25() -> Similarity {
        Similarity::Bm25 { k1: 1.2, b: 0.75 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemKnnOptions {
    pub similarity: Similarity,
    /// Neighbours kept per item (the item itself is not counted). Default 50, between
    /// `implicit`'s 20 (one of them the item itself) and the 100+ often used with BM25:
    /// more neighbours let short histories reach more items, but each weak neighbour also
    /// adds popularity-driven noise to the sum (on MovieLens cosine peaks near 20–50, BM25
    /// keeps improving up to 200).
    pub neighbours: usize,
    /// Added to the cosine denominator; damps similarities resting on few shared customers.
    /// Ignored by BM25. Default 0 (plain cosine, as `implicit`).
    pub shrinkage: f32,
}

impl Default for ItemKnnOptions {
    fn default() -> Self {
        ItemKnnOptions { similarity: Similarity::Cosine, neighbours: 50, shrinkage: 0.0 }
    }
}

impl ItemKnnOptions {
    pub fn validate(&self) -> Result<(), RecommendError> {
        if self.neighbours == 0 || self.neighbours > u32::MAX as usize {
            return Err(invalid_option("neighbours", format!("{} is not accepted: it must be at least 1", self.neighbours)));
        }
        if !(self.shrinkage.is_finite() && self.shrinkage >= 0.0) {
            return Err(invalid_option("shrinkage", format!("{} is not accepted: it must be a finite number >= 0", self.shrinkage)));
        }
        if let Similarity::Bm25 { k1, b } = self.similarity {
            if !(k1.is_finite() && k1 >= 0.0) {
                return Err(invalid_option("k1", format!("{k1} is not accepted: it must be a finite number >= 0")));
            }
            if !(0.0..=1.0).contains(&b) {
                return Err(invalid_option("b", format!("{b} is not accepted: it must be between 0 and 1")));
            }
        }
        Ok(())
    }
}

/// Neighbour lists, most similar first, as compressed rows (only similarities > 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemKnn {
    options: ItemKnnOptions,
    indptr: Vec<usize>,
    neighbours: Vec<u32>,
    similarities: Vec<f32>,
}

impl ItemKnn {
    /// Whether the stored neighbour lists of `n_items` items can be read safely.
    pub fn validate(&self, n_items: usize) -> std::result::Result<(), String> {
        let ok = self.indptr.len() == n_items + 1
            && self.indptr.first() == Some(&0)
            && self.indptr.windows(2).all(|w| w[0] <= w[1])
            && self.indptr.last() == Some(&self.neighbours.len())
            && self.similarities.len() == self.neighbours.len()
            && self.neighbours.iter().all(|&j| (j as usize) < n_items);
        ok.then_some(()).ok_or_else(|| format!("item neighbour lists inconsistent with {n_items} items"))
    }

    /// Computes every item's neighbours on `threads` threads (0 = as many as
    /// `pool::max_threads` allows). `should_stop` is polled on this thread between items
    /// (a popular item's co-occurrences can take milliseconds); when it answers true the
    /// fit ends with `RecommendError::Cancelled`.
    pub fn fit(user_items: &SparseRows, options: &ItemKnnOptions, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<ItemKnn, RecommendError> {
        options.validate()?;
        let n_items = user_items.n_columns();
        let weighted = weigh(user_items, options.similarity);
        let item_users = weighted.transpose();
        let norms: Vec<f32> = (0..n_items).map(|i| item_users.row(i).1.iter().map(|w| w * w).sum::<f32>().sqrt()).collect();
        let chunk = 64;
        let pieces = pool::map_ranges(n_items, chunk, threads, should_stop, |range, checkpoint| {
            // Sparse accumulator (Gustavson's row-by-row product): dense sums plus the list
            // of touched columns, so each item costs only the work of its co-occurrences.
            // `stamp[j] == i + 1` marks j as already listed for item i; the list append is
            // branch-free because first touches are unpredictable.
            let mut sums = vec![0f32; n_items];
            let mut stamp = vec![0u32; n_items];
            let mut touched = vec![0u32; n_items + 1];
            let mut scored: Vec<(u32, f32)> = Vec::new();
            let mut lists: Vec<Vec<(u32, f32)>> = Vec::with_capacity(range.len());
            for i in range {
                if checkpoint.stop() {
                    break;
                }
                let mark = i as u32 + 1;
                let mut n_touched = 0usize;
                let (users, user_weights) = item_users.row(i);
                for (&u, &w_ui) in users.iter().zip(user_weights) {
                    let (items, item_weights) = weighted.row(u as usize);
                    for (&j, &w_uj) in items.iter().zip(item_weights) {
                        let j = j as usize;
                        sums[j] += w_ui * w_uj;
                        touched[n_touched] = j as u32;
                        n_touched += usize::from(stamp[j] != mark);
                        stamp[j] = mark;
                    }
                }
                scored.clear();
                for &j in &touched[..n_touched] {
                    let dot = std::mem::take(&mut sums[j as usize]);
                    if j as usize == i {
                        continue;
                    }
                    let similarity = match options.similarity {
                        Similarity::Cosine => dot / (norms[i] * norms[j as usize] + options.shrinkage),
                        Similarity::Bm25 { .. } => dot,
                    };
                    if similarity > 0.0 {
                        scored.push((j, similarity));
                    }
                }
                lists.push(top_neighbours(&mut scored, options.neighbours));
            }
            lists
        })?;
        let mut indptr = Vec::with_capacity(n_items + 1);
        let mut neighbours = Vec::new();
        let mut similarities = Vec::new();
        indptr.push(0);
        for list in pieces.into_iter().flatten() {
            for (j, s) in list {
                neighbours.push(j);
                similarities.push(s);
            }
            indptr.push(neighbours.len());
        }
        Ok(ItemKnn { options: options.clone(), indptr, neighbours, similarities })
    }

    pub fn options(&self) -> &ItemKnnOptions {
        &self.options
    }

    pub fn n_items(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Neighbours of `item`, most similar first (empty when out of range).
    pub fn neighbours(&self, item: u32) -> (&[u32], &[f32]) {
        let i = item as usize;
        if i + 1 >= self.indptr.len() {
            return (&[], &[]);
        }
        let span = self.indptr[i]..self.indptr[i + 1];
        (&self.neighbours[span.clone()], &self.similarities[span])
    }

    /// Adds Σ weight × similarity over the customer's items into `scores` (length n_items).
    pub fn add_scores(&self, history_items: &[u32], history_weights: &[f32], scores: &mut [f32]) {
        for (&i, &w) in history_items.iter().zip(history_weights) {
            let (items, sims) = self.neighbours(i);
            for (&j, &s) in items.iter().zip(sims) {
                if let Some(slot) = scores.get_mut(j as usize) {
                    *slot += w * s;
                }
            }
        }
    }
}

/// The `k` best of `scored`, most similar first (ties: lower index), by partial selection.
fn top_neighbours(scored: &mut [(u32, f32)], k: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let keep = if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, order);
        &mut scored[..k]
    } else {
        scored
    };
    keep.sort_unstable_by(order);
    keep.to_vec()
}

/// Customer × item matrix whose dot products (between item columns) give the similarity.
fn weigh(user_items: &SparseRows, similarity: Similarity) -> SparseRows {
    match similarity {
        Similarity::Cosine => user_items.clone(),
        Similarity::Bm25 { k1, b } => {
            let n_items = user_items.n_columns();
            let mut item_totals = vec![0f64; n_items];
            for u in 0..user_items.n_rows() {
                let (items, weights) = user_items.row(u);
                for (&i, &w) in items.iter().zip(weights) {
                    item_totals[i as usize] += w as f64;
                }
            }
            // Items without rows (possible after a split) are not part of the catalogue.
            let catalogue = item_totals.iter().filter(|&&t| t > 0.0).count().max(1);
            let mean_total = item_totals.iter().sum::<f64>() / catalogue as f64;
            let idf: Vec<f64> = (0..user_items.n_rows()).map(|u| ((catalogue as f64).ln() - (1.0 + user_items.row_len(u) as f64).ln()).max(0.0)).collect();
            let (k1, b) = (k1 as f64, b as f64);
            user_items.map_values(|u, i, r| {
                let r = r as f64;
                let length_norm = 1.0 - b + b * item_totals[i as usize] / mean_total;
                (r * (k1 + 1.0) / (k1 * length_norm + r) * idf[u]) as f32
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn never() -> bool {
        false
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn cosine_matches_hand_computation() {
        // customers × items
        // c0: i0=1, i1=1
        // c1: i0=2, i1=1, i2=1
        // c2: i2=3
        let m = SparseRows::from_triples(3, 3, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 2.0), (1, 1, 1.0), (1, 2, 1.0), (2, 2, 3.0)]);
        let knn = ItemKnn::fit(&m, &ItemKnnOptions { neighbours: 10, ..Default::default() }, 2, &never).unwrap();
        // i0 = (1,2,0), i1 = (1,1,0), i2 = (0,1,3)
        let cos01 = 3.0 / (5f32.sqrt() * 2f32.sqrt());
        let cos02 = 2.0 / (5f32.sqrt() * 10f32.sqrt());
        let cos12 = 1.0 / (2f32.sqrt() * 10f32.sqrt());
        let (items, sims) = knn.neighbours(0);
        assert_eq!(items, [1, 2]);
        assert!(close(sims[0], cos01) && close(sims[1], cos02));
        let (items, sims) = knn.neighbours(2);
        assert_eq!(items, [0, 1]);
        assert!(close(sims[0], cos02) && close(sims[1], cos12));

        // Shrinkage 1: dot / (|a||b| + 1).
        let shrunk = ItemKnn::fit(&m, &ItemKnnOptions { neighbours: 10, shrinkage: 1.0, ..Default::default() }, 1, &never).unwrap();
        assert!(close(shrunk.neighbours(0).1[0], 3.0 / (10f32.sqrt() + 1.0)));

        // Top-1 keeps only the best neighbour.
        let one = ItemKnn::fit(&m, &ItemKnnOptions { neighbours: 1, ..Default::default() }, 1, &never).unwrap();
        assert_eq!(one.neighbours(0).0, [1]);

        // Scores for customer c2 (only i2, weight 3): 3 × cos(2, j).
        let mut scores = vec![0.0; 3];
        knn.add_scores(&[2], &[3.0], &mut scores);
        assert!(close(scores[0], 3.0 * cos02) && close(scores[1], 3.0 * cos12) && scores[2] == 0.0);
    }

    #[test]
    fn bm25_matches_hand_computation() {
        // Two customers, three items; c0: i0, i1; c1: i0, i2 (all weight 1).
        let m = SparseRows::from_triples(2, 3, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0)]);
        let knn = ItemKnn::fit(&m, &ItemKnnOptions { similarity: Similarity::bm25(), neighbours: 10, shrinkage: 0.0 }, 1, &never).unwrap();
        // idf(c) = ln 3 - ln 3 = 0 for both customers: no similarity at all.
        assert!(knn.neighbours(0).0.is_empty());

        // Five items so that idf > 0: c0: i0, i1; c1: i0, i2; c2: i3; c3: i4.
        let m = SparseRows::from_triples(4, 5, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0)]);
        let knn = ItemKnn::fit(&m, &ItemKnnOptions { similarity: Similarity::bm25(), neighbours: 10, shrinkage: 0.0 }, 1, &never).unwrap();
        let (k1, b) = (1.2f64, 0.75f64);
        let idf = 5f64.ln() - 3f64.ln(); // customers c0, c1 have 2 items
        let mean_total = 6.0 / 5.0;
        let weight = |total: f64| (k1 + 1.0) / (k1 * (1.0 - b + b * total / mean_total) + 1.0) * idf;
        let expected_01 = (weight(2.0) * weight(1.0)) as f32; // shared customer c0
        let (items, sims) = knn.neighbours(0);
        assert_eq!(items, [1, 2]);
        assert!(close(sims[0], expected_01), "{} vs {expected_01}", sims[0]);
        assert!(close(sims[1], expected_01));
    }

    #[test]
    fn options_are_validated() {
        let m = SparseRows::from_triples(1, 1, &[(0, 0, 1.0)]);
        let bad = ItemKnnOptions { neighbours: 0, ..Default::default() };
        assert!(matches!(ItemKnn::fit(&m, &bad, 1, &never), Err(RecommendError::InvalidOption { option: "neighbours", .. })));
        let bad = ItemKnnOptions { similarity: Similarity::Bm25 { k1: 1.2, b: 2.0 }, ..Default::default() };
        assert!(matches!(ItemKnn::fit(&m, &bad, 1, &never), Err(RecommendError::InvalidOption { option: "b", .. })));
        let bad = ItemKnnOptions { shrinkage: f32::NAN, ..Default::default() };
        assert!(matches!(ItemKnn::fit(&m, &bad, 1, &never), Err(RecommendError::InvalidOption { option: "shrinkage", .. })));
    }

    #[test]
    fn a_cancel_stops_the_fit_between_items() {
        let m = crate::recommend::random_rows(20_000, 8);
        let options = ItemKnnOptions::default();
        let counted = |threads: usize, cancel_after: usize| {
            let polls = Cell::new(0usize);
            let fit = ItemKnn::fit(&m, &options, threads, &|| {
                polls.set(polls.get() + 1);
                polls.get() > cancel_after
            });
            (fit, polls.get())
        };
        // On one thread a whole fit polls at least once per item (2,000 of them).
        let (whole, polls) = counted(1, usize::MAX);
        assert!(whole.is_ok() && polls >= 2_000, "{polls} polls");
        for threads in [1, 2] {
            assert_eq!(ItemKnn::fit(&m, &options, threads, &|| true), Err(RecommendError::Cancelled));
        }
        for threads in [1, 2] {
            let (cancelled, polls) = counted(threads, 50);
            assert_eq!(cancelled, Err(RecommendError::Cancelled));
            assert_eq!(polls, 51, "no poll after the one that cancelled");
        }
    }
}
