//! Mean silhouette coefficient (scikit-learn's `silhouette_score`, Euclidean), exact or on
//! a seeded sample of rows, and the choice of k by it.
//!
//! For a row i of cluster A: a = mean distance to the other rows of A, b = the lowest
//! mean distance to the rows of another cluster, s = (b − a) / max(a, b); s = 0 for a
//! row alone in its cluster (and where a = b = 0). The score is the mean of s.

use std::ops::{Range, RangeInclusive};

use super::kmeans::{
    check_shape, fit, resolve_threads, run_parallel, Blocks, KMeansError, KMeansFit,
    KMeansOptions, SplitMix64,
};

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
    let mut slots: Vec<Slot> = (0..blocks.slots.len())
        .map(|_| Slot { total: 0.0, to_cluster: vec![0.0; k] })
        .collect();
    let clusters = &clusters;
    let rows = &rows;
    run_parallel(&blocks, &mut slots, resolve_threads(threads), should_stop, &|slot, positions| {
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
        let score = match silhouette(
            data,
            n_rows,
            n_cols,
            &fit.labels,
            k,
            silhouette_sample,
            options.threads,
            should_stop,
        ) {
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
        None => Err(KMeansError::SilhouetteUndefined {
            distinct_labels: fewest_distinct,
            n_rows: silhouette_sample.map_or(n_rows, |(size, _)| size.min(n_rows)),
        }),
    }
}
