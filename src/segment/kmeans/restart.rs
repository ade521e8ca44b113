//! One restart: k-means++ seeding (`init.rs`), then Lloyd's (`lloyd.rs`) or Hamerly's
//! (`hamerly.rs`) iterations; the per-cluster sums both keep, and the re-seeding of
//! empty clusters.

use super::distance::{squared_distance, sub_row};
use super::parallel::{run_parallel, Blocks};
use super::{KMeansAlgorithm, KMeansError, KMeansFit, Matrix};
use crate::rng::SplitMix64;

pub(super) struct Restart<'a> {
    pub(super) matrix: &'a Matrix<'a>,
    pub(super) k: usize,
    pub(super) max_iter: usize,
    /// Absolute tolerance on the summed squared centre shift.
    pub(super) tol: f64,
    pub(super) threads: usize,
    pub(super) algorithm: KMeansAlgorithm,
    pub(super) should_stop: &'a dyn Fn() -> bool,
}

/// Per-cluster running sums of member rows, from which centres are the means.
pub(super) struct ClusterSums {
    pub(super) sums: Vec<f64>,
    pub(super) counts: Vec<u64>,
}

impl Restart<'_> {
    pub(super) fn run(&self, rng: &mut SplitMix64) -> Result<KMeansFit, KMeansError> {
        let initial = self.kmeans_plus_plus(rng)?;
        match self.algorithm {
            KMeansAlgorithm::Lloyd => self.lloyd(initial),
            KMeansAlgorithm::Hamerly => self.hamerly(initial),
        }
    }

    pub(super) fn count_labels(&self, labels: &[u32]) -> Vec<u64> {
        let mut sizes = vec![0u64; self.k];
        for &label in labels {
            if let Some(size) = sizes.get_mut(label as usize) {
                *size += 1;
            }
        }
        sizes
    }

    /// scikit-learn's handling of empty clusters: each takes one of the rows farthest
    /// from their (old) centre, which leaves its own cluster. `upper` and `lower` are
    /// Hamerly's bounds (empty for Lloyd); the moved rows' bounds are reset.
    pub(super) fn relocate_empty_clusters(
        &self,
        old_centres: &[f64],
        labels: &mut [u32],
        sums: &mut ClusterSums,
        upper: &mut [f64],
        lower: &mut [f64],
    ) -> Result<bool, KMeansError> {
        let empty: Vec<usize> = (0..self.k).filter(|&c| sums.counts[c] == 0).collect();
        if empty.is_empty() {
            return Ok(false);
        }
        let matrix = self.matrix;
        let d = matrix.n_cols;
        let wanted = empty.len();
        let blocks = Blocks::new(matrix.n_rows, d, 2 * wanted);
        let mut slots: Vec<Vec<(f64, usize)>> = vec![Vec::new(); blocks.slots.len()];
        let labels_read: &[u32] = labels;
        run_parallel(&blocks, &mut slots, self.threads, self.should_stop, &|farthest, rows| {
            for i in rows {
                let label = labels_read[i] as usize;
                let distance = squared_distance(matrix.row(i), &old_centres[label * d..(label + 1) * d]);
                keep_farthest(farthest, wanted, (distance, i));
            }
        })?;
        let mut farthest = Vec::with_capacity(wanted);
        for slot in slots {
            for candidate in slot {
                keep_farthest(&mut farthest, wanted, candidate);
            }
        }
        for (&cluster, &(_, i)) in empty.iter().zip(&farthest) {
            let row = matrix.row(i);
            let from = labels[i] as usize;
            sub_row(&mut sums.sums[from * d..(from + 1) * d], row);
            sums.counts[from] -= 1;
            sums.sums[cluster * d..(cluster + 1) * d].copy_from_slice(row);
            sums.counts[cluster] = 1;
            labels[i] = cluster as u32;
            if let (Some(upper), Some(lower)) = (upper.get_mut(i), lower.get_mut(i)) {
                // The row is its new centre; the distance to the second nearest is unknown.
                *upper = 0.0;
                *lower = 0.0;
            }
        }
        Ok(true)
    }
}

impl ClusterSums {
    pub(super) fn zeros(k: usize, d: usize) -> ClusterSums {
        ClusterSums { sums: vec![0.0; k * d], counts: vec![0; k] }
    }

    pub(super) fn add(&mut self, other: &ClusterSums) {
        for (total, value) in self.sums.iter_mut().zip(&other.sums) {
            *total += value;
        }
        for (total, value) in self.counts.iter_mut().zip(&other.counts) {
            *total += value;
        }
    }

    pub(super) fn add_signed(&mut self, sum_changes: &[f64], count_changes: &[i64]) {
        for (total, value) in self.sums.iter_mut().zip(sum_changes) {
            *total += value;
        }
        for (total, &value) in self.counts.iter_mut().zip(count_changes) {
            *total = total.saturating_add_signed(value);
        }
    }

    /// Sets each non-empty cluster's centre to the mean of its rows (an empty one keeps
    /// its centre); returns the summed squared movement.
    pub(super) fn update_centres(&self, centres: &mut [f64], d: usize) -> f64 {
        let mut shift = 0.0;
        for ((centre, sum), &count) in centres.chunks_exact_mut(d).zip(self.sums.chunks_exact(d)).zip(&self.counts) {
            if count == 0 {
                continue;
            }
            let scale = 1.0 / count as f64;
            for (value, total) in centre.iter_mut().zip(sum) {
                let mean = total * scale;
                shift += (mean - *value) * (mean - *value);
                *value = mean;
            }
        }
        shift
    }
}

/// Keeps `farthest` the `wanted` largest (distance, row) pairs, farthest first and the
/// lower row first among equals.
fn keep_farthest(farthest: &mut Vec<(f64, usize)>, wanted: usize, candidate: (f64, usize)) {
    let beats = |kept: &(f64, usize)| candidate.0 > kept.0 || (candidate.0 == kept.0 && candidate.1 < kept.1);
    if farthest.len() == wanted && !farthest.last().is_some_and(beats) {
        return;
    }
    let at = farthest.iter().position(beats).unwrap_or(farthest.len());
    farthest.insert(at, candidate);
    farthest.truncate(wanted);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_sane, never};
    use super::*;

    #[test]
    fn an_empty_cluster_is_reseeded_from_the_farthest_row() {
        // Two tight pairs and an initial centre far from every row: it gets no rows in
        // the first assignment and must take the row farthest from its centre.
        let data = [0.0, 0.0, 0.0, 1.0, 10.0, 0.0, 10.0, 4.0];
        let matrix = Matrix { data: &data, n_rows: 4, n_cols: 2 };
        for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hamerly] {
            let restart = Restart { matrix: &matrix, k: 3, max_iter: 300, tol: 0.0, threads: 1, algorithm, should_stop: &never };
            let initial = vec![0.0, 0.5, 10.0, 2.0, 1000.0, 1000.0];
            let fit = match algorithm {
                KMeansAlgorithm::Lloyd => restart.lloyd(initial),
                KMeansAlgorithm::Hamerly => restart.hamerly(initial),
            }
            .unwrap();
            assert_sane(&fit, 4);
            // (10, 0) and (10, 4) are both 2 from their centre (10, 2); the lower row
            // index moves, so the far pair splits and the close pair stays.
            assert_eq!(fit.labels, vec![0, 0, 2, 1]);
            assert_eq!(fit.centroids, vec![0.0, 0.5, 10.0, 4.0, 10.0, 0.0]);
            assert_eq!(fit.inertia, 0.5);
            assert_eq!(fit.sizes, vec![2, 1, 1]);
        }
    }
}
