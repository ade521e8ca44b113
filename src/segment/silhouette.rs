//! Mean silhouette coefficient (scikit-learn's `silhouette_score`, Euclidean), exact or on
//! a seeded sample of rows, and the choice of k by it.
//!
//! For a row i of cluster A: a = mean distance to the other rows of A, b = the lowest
//! mean distance to the rows of another cluster, s = (b − a) / max(a, b); s = 0 for a
//! row alone in its cluster (and where a = b = 0). The score is the mean of s.

use std::ops::{Range, RangeInclusive};

use super::kmeans::{check_shape, fit, run_parallel, Blocks, KMeansError, KMeansFit, KMeansOptions};
use crate::rng::SplitMix64;

/// Rows scored when a table is larger than this: the exact score costs O(n²).
pub const DEFAULT_SILHOUETTE_SAMPLE: usize = 10_000;

/// `Some((DEFAULT_SILHOUETTE_SAMPLE, seed))` when `n_rows` is larger than it, else `None`
/// (exact).
pub fn default_sample(n_rows: usize, seed: u64) -> Option<(usize, u64)> {
    (n_rows > DEFAULT_SILHOUETTE_SAMPLE).then_some((DEFAULT_SILHOUETTE_SAMPLE, seed))
}

/// Mean silhouette of `labels` (each below `k`) over the rows of `data`, or over
/// `sample = Some((size, seed))` rows drawn without replacement as scikit-learn's
/// `sample_size` (all rows when `size` ≥ `n_rows`). Errors when the scored rows hold fewer
/// than 2 or more than n − 1 distinct labels, or when `should_stop` answers true.
#[allow(clippy::too_many_arguments)]
pub fn silhouette(
    data: &[f64],
    n_rows: usize,
    n_cols: usize,
    labels: &[u32],
    k: usize,
    sample: Option<(usize, u64)>,
    threads: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<f64, KMeansError> {
    check_shape(data, n_rows, n_cols)?;
    if labels.len() != n_rows {
        return Err(KMeansError::LabelsMismatch { labels: labels.len(), n_rows });
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= k) {
        return Err(KMeansError::LabelOutOfRange { row, label, k });
    }
    if let Some(at) = data.iter().position(|v| !v.is_finite()) {
        return Err(KMeansError::NonFinite { row: at / n_cols, col: at % n_cols, value: data[at] });
    }
    // Buffers are sized by the labels in use, not by `k`, which may be far larger.
    let k = labels.iter().max().map_or(0, |&label| label as usize + 1);
    let rows = match sample {
        Some((size, seed)) if size < n_rows => sample_rows(n_rows, size, seed),
        _ => (0..n_rows).collect(),
    };
    let clusters = PackedClusters::new(data, n_cols, labels, k, &rows);
    let scored = rows.len();
    let distinct = clusters.sizes.iter().filter(|&&size| size > 0).count();
    if distinct < 2 || distinct + 1 > scored {
        return Err(KMeansError::SilhouetteUndefined { distinct_labels: distinct, n_rows: scored });
    }

    struct Slot {
        total: f64,
        /// Summed distances from the current row to each cluster.
        to_cluster: Vec<f64>,
    }
    let blocks = Blocks::new(scored, scored.saturating_mul(n_cols), 1 + k);
    let mut slots: Vec<Slot> = (0..blocks.slots.len()).map(|_| Slot { total: 0.0, to_cluster: vec![0.0; k] }).collect();
    let clusters = &clusters;
    let rows = &rows;
    run_parallel(&blocks, &mut slots, threads, should_stop, &|slot, positions| {
        for position in positions {
            let i = rows[position];
            let row = &data[i * n_cols..(i + 1) * n_cols];
            let own = labels[i] as usize;
            for (cluster, sum) in slot.to_cluster.iter_mut().enumerate() {
                *sum = clusters.distance_sum(cluster, row);
            }
            slot.total += silhouette_of_row(&slot.to_cluster, &clusters.sizes, own);
        }
    })?;
    Ok(slots.iter().map(|slot| slot.total).sum::<f64>() / scored as f64)
}

fn silhouette_of_row(to_cluster: &[f64], sizes: &[usize], own: usize) -> f64 {
    let own_size = sizes[own];
    if own_size < 2 {
        return 0.0;
    }
    // The row's distance to itself is 0, so the sum is over the other members.
    let within = to_cluster[own] / (own_size - 1) as f64;
    let mut nearest_other = f64::INFINITY;
    for (cluster, (&sum, &size)) in to_cluster.iter().zip(sizes).enumerate() {
        if cluster != own && size > 0 {
            nearest_other = nearest_other.min(sum / size as f64);
        }
    }
    let scale = within.max(nearest_other);
    if scale > 0.0 {
        (nearest_other - within) / scale
    } else {
        0.0
    }
}

/// `size` distinct row indices drawn uniformly (a partial Fisher–Yates shuffle).
fn sample_rows(n_rows: usize, size: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n_rows).collect();
    for i in 0..size.min(n_rows) {
        let j = i + rng.below(n_rows - i);
        order.swap(i, j);
    }
    order.truncate(size);
    order
}

/// Width of the packed groups: distances to this many rows are computed side by side,
/// which the compiler turns into vector instructions (square roots included).
const LANES: usize = 8;

/// The scored rows of each cluster, column-major in groups of `LANES` rows (the
/// remainder row-major), so a row's distances to a whole cluster stream through memory.
struct PackedClusters {
    n_cols: usize,
    sizes: Vec<usize>,
    groups: Vec<Vec<f64>>,
    rest: Vec<Vec<f64>>,
}

impl PackedClusters {
    fn new(data: &[f64], n_cols: usize, labels: &[u32], k: usize, rows: &[usize]) -> Self {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
        for &i in rows {
            members[labels[i] as usize].push(i);
        }
        let row = |i: usize| &data[i * n_cols..(i + 1) * n_cols];
        let mut groups = Vec::with_capacity(k);
        let mut rest = Vec::with_capacity(k);
        for cluster in &members {
            let full = cluster.len() / LANES * LANES;
            let mut packed = Vec::with_capacity(full * n_cols);
            for group in cluster[..full].chunks_exact(LANES) {
                for col in 0..n_cols {
                    packed.extend(group.iter().map(|&i| row(i)[col]));
                }
            }
            groups.push(packed);
            rest.push(cluster[full..].iter().flat_map(|&i| row(i).iter().copied()).collect());
        }
        PackedClusters { n_cols, sizes: members.iter().map(Vec::len).collect(), groups, rest }
    }

    /// Sum of Euclidean distances from `row` to every scored row of `cluster`.
    fn distance_sum(&self, cluster: usize, row: &[f64]) -> f64 {
        let mut totals = [0.0f64; LANES];
        for group in self.groups[cluster].chunks_exact(self.n_cols * LANES) {
            let mut squares = [0.0f64; LANES];
            for (column, &value) in group.chunks_exact(LANES).zip(row) {
                for lane in 0..LANES {
                    let diff = column[lane] - value;
                    squares[lane] += diff * diff;
                }
            }
            for lane in 0..LANES {
                totals[lane] += squares[lane].sqrt();
            }
        }
        let mut total = totals.iter().sum::<f64>();
        for other in self.rest[cluster].chunks_exact(self.n_cols) {
            total += super::kmeans::squared_distance(other, row).sqrt();
        }
        total
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KScore {
    pub k: usize,
    pub inertia: f64,
    /// `None` where the fit left fewer than 2 non-empty clusters (too few distinct rows).
    pub silhouette: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KChoice {
    pub best_k: usize,
    pub scores: Vec<KScore>,
    pub best_fit: KMeansFit,
}

/// Fits every k of `k_range` (its end lowered to `n_rows − 1`, as silhouette needs) with
/// `options` (their `k` ignored) and keeps the k of the highest silhouette, the smaller
/// k among equals. `silhouette_sample` as for `silhouette`; `default_sample` suits most
/// callers. The same sample rows score every k.
pub fn choose_k(
    data: &[f64],
    n_rows: usize,
    n_cols: usize,
    k_range: RangeInclusive<usize>,
    options: &KMeansOptions,
    silhouette_sample: Option<(usize, u64)>,
    should_stop: &dyn Fn() -> bool,
) -> Result<KChoice, KMeansError> {
    check_shape(data, n_rows, n_cols)?;
    let (start, end) = (*k_range.start(), *k_range.end());
    let ks: Range<usize> = start..end.min(n_rows.saturating_sub(1)).saturating_add(1);
    if start < 2 || ks.is_empty() {
        return Err(KMeansError::InvalidKRange { start, end, n_rows });
    }
    let mut scores = Vec::with_capacity(ks.len());
    let mut best: Option<(usize, f64, KMeansFit)> = None;
    let mut fewest_distinct = usize::MAX;
    for k in ks {
        let fit = fit(data, n_rows, n_cols, &KMeansOptions { k, ..options.clone() }, should_stop)?;
        let score = match silhouette(data, n_rows, n_cols, &fit.labels, k, silhouette_sample, options.threads, should_stop) {
            Ok(score) => Some(score),
            Err(KMeansError::SilhouetteUndefined { distinct_labels, .. }) => {
                fewest_distinct = fewest_distinct.min(distinct_labels);
                None
            }
            Err(error) => return Err(error),
        };
        scores.push(KScore { k, inertia: fit.inertia, silhouette: score });
        if let Some(score) = score {
            if best.as_ref().is_none_or(|(_, kept, _)| score > *kept) {
                best = Some((k, score, fit));
            }
        }
    }
    match best {
        Some((best_k, _, best_fit)) => Ok(KChoice { best_k, scores, best_fit }),
        None => {
            Err(KMeansError::SilhouetteUndefined { distinct_labels: fewest_distinct, n_rows: silhouette_sample.map_or(n_rows, |(size, _)| size.min(n_rows)) })
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

    /// scikit-learn's definition, directly: O(n²) with no packing or threads.
    fn reference(data: &[f64], d: usize, labels: &[u32], rows: &[usize]) -> f64 {
        let distance = |a: usize, b: usize| (0..d).map(|c| (data[a * d + c] - data[b * d + c]).powi(2)).sum::<f64>().sqrt();
        let mut total = 0.0;
        for &i in rows {
            let mut sums = std::collections::BTreeMap::<u32, (f64, usize)>::new();
            for &j in rows {
                let entry = sums.entry(labels[j]).or_default();
                entry.0 += distance(i, j);
                entry.1 += 1;
            }
            let (own_sum, own_size) = sums[&labels[i]];
            if own_size == 1 {
                continue;
            }
            let a = own_sum / (own_size - 1) as f64;
            let b = sums.iter().filter(|(&label, _)| label != labels[i]).map(|(_, &(sum, size))| sum / size as f64).fold(f64::INFINITY, f64::min);
            if a.max(b) > 0.0 {
                total += (b - a) / a.max(b);
            }
        }
        total / rows.len() as f64
    }

    fn random_data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n * d).map(|_| rng.next_f64() * 10.0).collect()
    }

    #[test]
    fn hand_computed_examples() {
        // Points 0, 1, 4, 5 in two pairs: s = 3.5/4.5 for the outer points and 2.5/3.5
        // for the inner ones.
        let score = silhouette(&[0.0, 1.0, 4.0, 5.0], 4, 1, &[0, 0, 1, 1], 2, None, 1, &never);
        let expected = (3.5 / 4.5 + 2.5 / 3.5) / 2.0;
        assert!((score.unwrap() - expected).abs() < 1e-15);
        // A singleton scores 0: (0.9 + 8/9 + 0) / 3.
        let score = silhouette(&[0.0, 1.0, 10.0], 3, 1, &[0, 0, 1], 2, None, 1, &never);
        assert!((score.unwrap() - (0.9 + 8.0 / 9.0) / 3.0).abs() < 1e-15);
        // A 3-4-5 triangle in 2-D: rows (0,0), (0,0) in one cluster, (3,4) alone.
        // Duplicates: a = 0, b = 5, s = 1 for both; the singleton 0.
        let score = silhouette(&[0.0, 0.0, 0.0, 0.0, 3.0, 4.0], 3, 2, &[1, 1, 0], 2, None, 1, &never);
        assert!((score.unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // Labels need not be dense: cluster 1 of k = 3 is unused.
        let score = silhouette(&[0.0, 1.0, 4.0, 5.0], 4, 1, &[0, 0, 2, 2], 3, None, 1, &never);
        assert!((score.unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn identical_points_in_different_clusters_score_zero_not_nan() {
        let score = silhouette(&[2.0; 6], 6, 1, &[0, 0, 0, 1, 1, 1], 2, None, 1, &never).unwrap();
        assert_eq!(score, 0.0);
    }

    #[test]
    fn matches_the_definition_on_random_data_with_any_threads() {
        let (n, d, k) = (700, 3, 4);
        let data = random_data(n, d, 5);
        let labels: Vec<u32> = (0..n).map(|i| ((i * 7 + i / 3) % k) as u32).collect();
        let all: Vec<usize> = (0..n).collect();
        let expected = reference(&data, d, &labels, &all);
        let one = silhouette(&data, n, d, &labels, k, None, 1, &never).unwrap();
        let three = silhouette(&data, n, d, &labels, k, None, 3, &never).unwrap();
        assert!((one - expected).abs() < 1e-12, "{one} vs {expected}");
        assert_eq!(one, three);
        // A sample at least as large as the data is the exact score.
        let whole = silhouette(&data, n, d, &labels, k, Some((n, 9)), 1, &never).unwrap();
        assert_eq!(whole, one);
    }

    #[test]
    fn a_sample_scores_its_rows_only_and_is_seeded() {
        let (n, d, k) = (500, 2, 3);
        let data = random_data(n, d, 8);
        let labels: Vec<u32> = (0..n).map(|i| (data[i * d] / 3.4) as u32).collect();
        let sampled = silhouette(&data, n, d, &labels, k, Some((120, 4)), 2, &never).unwrap();
        let expected = reference(&data, d, &labels, &sample_rows(n, 120, 4));
        assert!((sampled - expected).abs() < 1e-12);
        let again = silhouette(&data, n, d, &labels, k, Some((120, 4)), 1, &never).unwrap();
        assert_eq!(sampled, again);
        let mut rows = sample_rows(n, 120, 4);
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 120);
    }

    #[test]
    fn undefined_and_invalid_inputs_are_errors() {
        let data = [0.0, 1.0, 2.0];
        let one_label = silhouette(&data, 3, 1, &[0, 0, 0], 2, None, 1, &never);
        assert_eq!(one_label, Err(KMeansError::SilhouetteUndefined { distinct_labels: 1, n_rows: 3 }));
        let all_alone = silhouette(&data, 3, 1, &[0, 1, 2], 3, None, 1, &never);
        assert!(matches!(all_alone, Err(KMeansError::SilhouetteUndefined { .. })));
        assert!(all_alone.unwrap_err().to_string().contains("distinct labels"));
        let out_of_range = silhouette(&data, 3, 1, &[0, 1, 2], 2, None, 1, &never);
        assert_eq!(out_of_range, Err(KMeansError::LabelOutOfRange { row: 2, label: 2, k: 2 }));
        let short = silhouette(&data, 3, 1, &[0, 1], 2, None, 1, &never);
        assert_eq!(short, Err(KMeansError::LabelsMismatch { labels: 2, n_rows: 3 }));
        let nan = silhouette(&[0.0, f64::NAN, 1.0], 3, 1, &[0, 1, 1], 2, None, 1, &never);
        assert!(matches!(nan, Err(KMeansError::NonFinite { row: 1, .. })));
        let tiny_sample = silhouette(&data, 3, 1, &[0, 1, 1], 2, Some((1, 0)), 1, &never);
        assert!(matches!(tiny_sample, Err(KMeansError::SilhouetteUndefined { .. })));
        assert!(silhouette(&[], 0, 1, &[], 2, None, 1, &never).is_err());
        // A huge k costs nothing: buffers follow the labels in use.
        let huge_k = silhouette(&[0.0, 1.0, 4.0, 5.0], 4, 1, &[0, 0, 1, 1], usize::MAX, None, 1, &never);
        assert!(huge_k.unwrap() > 0.7);
    }

    #[test]
    fn cancel_is_honoured() {
        let data = random_data(3000, 2, 1);
        let labels: Vec<u32> = (0..3000).map(|i| (i % 2) as u32).collect();
        for threads in [1, 2] {
            let polls = Cell::new(0);
            let later = || {
                polls.set(polls.get() + 1);
                polls.get() > 3
            };
            let result = silhouette(&data, 3000, 2, &labels, 2, None, threads, &later);
            assert_eq!(result, Err(KMeansError::Cancelled));
        }
    }

    #[test]
    fn choose_k_finds_the_planted_number_of_blobs() {
        let centres = [0.0, 0.0, 8.0, 0.0, 0.0, 8.0];
        let mut rng = SplitMix64::new(3);
        let data: Vec<f64> = (0..300)
            .flat_map(|i| {
                let c = i % 3;
                [centres[c * 2] + rng.next_f64(), centres[c * 2 + 1] + rng.next_f64()]
            })
            .collect();
        let options = KMeansOptions { threads: 1, ..KMeansOptions::new(1) };
        let choice = choose_k(&data, 300, 2, 2..=6, &options, None, &never).unwrap();
        assert_eq!(choice.best_k, 3);
        assert_eq!(choice.best_fit.k, 3);
        assert_eq!(choice.scores.iter().map(|s| s.k).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
        let best = choice.scores.iter().find(|s| s.k == 3).unwrap();
        assert!(choice.scores.iter().all(|s| s.silhouette.unwrap() <= best.silhouette.unwrap()));
        // Inertia falls as k grows.
        assert!(choice.scores.windows(2).all(|w| w[1].inertia <= w[0].inertia));
        // The same with a sample.
        let sampled = choose_k(&data, 300, 2, 2..=6, &options, Some((100, 1)), &never).unwrap();
        assert_eq!(sampled.best_k, 3);
    }

    #[test]
    fn choose_k_ranges_and_degenerate_data() {
        let options = KMeansOptions { threads: 1, ..KMeansOptions::new(1) };
        let data = [0.0, 0.1, 5.0, 5.1];
        // The end is lowered to n − 1 = 3.
        let choice = choose_k(&data, 4, 1, 2..=10, &options, None, &never).unwrap();
        assert_eq!(choice.scores.len(), 2);
        assert_eq!(choice.best_k, 2);
        #[allow(clippy::reversed_empty_ranges)]
        for bad in [1..=3, 4..=10, 3..=2] {
            let error = choose_k(&data, 4, 1, bad, &options, None, &never).unwrap_err();
            assert!(matches!(error, KMeansError::InvalidKRange { .. }));
            assert!(error.to_string().contains("k_range"));
        }
        // Constant data: empty clusters take a row each (as in scikit-learn), so the
        // silhouette is defined and 0 everywhere; the smallest k wins the tie.
        let constant = [1.0; 8];
        let choice = choose_k(&constant, 8, 1, 2..=4, &options, None, &never).unwrap();
        assert_eq!(choice.best_k, 2);
        assert!(choice.scores.iter().all(|s| s.silhouette == Some(0.0) && s.inertia == 0.0));
        assert_eq!(choose_k(&data, 4, 1, 2..=3, &options, None, &|| true).unwrap_err(), KMeansError::Cancelled);
    }

    #[test]
    fn default_sample_only_for_large_inputs() {
        assert_eq!(default_sample(DEFAULT_SILHOUETTE_SAMPLE, 3), None);
        assert_eq!(default_sample(DEFAULT_SILHOUETTE_SAMPLE + 1, 3), Some((DEFAULT_SILHOUETTE_SAMPLE, 3)));
    }
}
