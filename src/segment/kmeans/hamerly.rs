//! Hamerly's iterations: Lloyd's assignments, with distance bounds that let most rows
//! skip the distance computations once centres settle.

use super::distance::{add_row, squared_distance, sub_row, CentrePanel};
use super::parallel::{run_parallel, Blocks};
use super::restart::{ClusterSums, Restart};
use super::{KMeansError, KMeansFit};

impl Restart<'_> {
    /// Hamerly's algorithm. Per row: `upper` ≥ distance to its centre, `lower` ≤
    /// distance to every other centre. A row whose upper bound is below both its lower
    /// bound and half the gap from its centre to the nearest other centre cannot change
    /// cluster, so no distance is computed for it. After centres move by δ, bounds stay
    /// valid as upper + δ(own), lower − max δ(other).
    pub(super) fn hamerly(&self, mut centres: Vec<f64>) -> Result<KMeansFit, KMeansError> {
        let matrix = self.matrix;
        let (n, d, k) = (matrix.n_rows, matrix.n_cols, self.k);
        let blocks = Blocks::new(n, k * d, k * d + k);
        let mut labels = vec![u32::MAX; n];
        let mut upper = vec![0.0; n];
        let mut lower = vec![0.0; n];
        let mut sums = ClusterSums::zeros(k, d);
        let mut moves = vec![0.0; k];
        let mut n_iter = 0;
        let mut converged = false;
        while n_iter < self.max_iter {
            let mode = if n_iter == 0 { BoundsMode::Initial } else { BoundsMode::Update };
            n_iter += 1;
            let pass = self.hamerly_pass(&blocks, &centres, &moves, &mut labels, &mut upper, &mut lower, mode)?;
            sums.add_signed(&pass.sum_changes, &pass.count_changes);
            let relocated = self.relocate_empty_clusters(&centres, &mut labels, &mut sums, &mut upper, &mut lower)?;
            let previous = centres.clone();
            let shift = sums.update_centres(&mut centres, d);
            for (cluster, movement) in moves.iter_mut().enumerate() {
                let range = cluster * d..(cluster + 1) * d;
                *movement = squared_distance(&previous[range.clone()], &centres[range]).sqrt();
            }
            if (pass.changed == 0 && !relocated) || shift <= self.tol {
                converged = true;
                break;
            }
        }
        // Exact distances to the final centres give the inertia, and settle the labels
        // of rows whose bounds no longer prove them.
        let last = self.hamerly_pass(&blocks, &centres, &moves, &mut labels, &mut upper, &mut lower, BoundsMode::Final)?;
        let sizes = self.count_labels(&labels);
        Ok(KMeansFit { k, n_cols: d, centroids: centres, labels, sizes, inertia: last.inertia, n_iter, converged })
    }

    #[allow(clippy::too_many_arguments)]
    fn hamerly_pass(
        &self,
        blocks: &Blocks,
        centres: &[f64],
        moves: &[f64],
        labels: &mut [u32],
        upper: &mut [f64],
        lower: &mut [f64],
        mode: BoundsMode,
    ) -> Result<HamerlyPass, KMeansError> {
        struct Slot<'s> {
            first_row: usize,
            labels: &'s mut [u32],
            upper: &'s mut [f64],
            lower: &'s mut [f64],
            sum_changes: Vec<f64>,
            count_changes: Vec<i64>,
            changed: usize,
            inertia: f64,
        }
        let matrix = self.matrix;
        let (d, k) = (matrix.n_cols, self.k);
        let half_gaps = half_gaps_to_nearest_centre(centres, d, k);
        // The largest and second largest move: a row's lower bound drops by the largest
        // move among the other centres.
        let (mut largest, mut largest_at, mut second) = (0.0f64, usize::MAX, 0.0f64);
        for (cluster, &movement) in moves.iter().enumerate() {
            if movement > largest {
                second = largest;
                largest = movement;
                largest_at = cluster;
            } else if movement > second {
                second = movement;
            }
        }
        let track_sums = mode != BoundsMode::Final;
        let panel = CentrePanel::new(centres, d);
        let mut slots: Vec<Slot> = blocks
            .split_mut(labels)
            .into_iter()
            .zip(blocks.split_mut(upper))
            .zip(blocks.split_mut(lower))
            .zip(&blocks.slots)
            .map(|(((labels, upper), lower), range)| Slot {
                first_row: range.start,
                labels,
                upper,
                lower,
                sum_changes: vec![0.0; if track_sums { k * d } else { 0 }],
                count_changes: vec![0; k],
                changed: 0,
                inertia: 0.0,
            })
            .collect();
        run_parallel(blocks, &mut slots, self.threads, self.should_stop, &|slot, rows| {
            for i in rows {
                let row = matrix.row(i);
                let at = i - slot.first_row;
                let label = slot.labels[at] as usize;
                if mode == BoundsMode::Initial {
                    let (best, best_squared, second_squared) = panel.two_nearest(row);
                    slot.labels[at] = best as u32;
                    slot.upper[at] = best_squared.sqrt();
                    slot.lower[at] = second_squared.sqrt();
                    slot.changed += 1;
                    slot.count_changes[best] += 1;
                    add_row(&mut slot.sum_changes[best * d..(best + 1) * d], row);
                    continue;
                }
                let mut upper = slot.upper[at] + moves[label];
                let lower = slot.lower[at] - if label == largest_at { second } else { largest };
                let bound = lower.max(half_gaps[label]);
                let mut squared_to_own = f64::NAN;
                if mode == BoundsMode::Final || upper > bound {
                    squared_to_own = squared_distance(row, &centres[label * d..(label + 1) * d]);
                    upper = squared_to_own.sqrt();
                }
                if upper <= bound {
                    slot.upper[at] = upper;
                    slot.lower[at] = lower;
                    if mode == BoundsMode::Final {
                        slot.inertia += squared_to_own;
                    }
                    continue;
                }
                let (best, best_squared, second_squared) = panel.two_nearest(row);
                slot.upper[at] = best_squared.sqrt();
                slot.lower[at] = second_squared.sqrt();
                slot.inertia += best_squared;
                if best != label {
                    slot.labels[at] = best as u32;
                    slot.changed += 1;
                    if track_sums {
                        slot.count_changes[label] -= 1;
                        slot.count_changes[best] += 1;
                        sub_row(&mut slot.sum_changes[label * d..(label + 1) * d], row);
                        add_row(&mut slot.sum_changes[best * d..(best + 1) * d], row);
                    }
                }
            }
        })?;
        let mut pass = HamerlyPass { sum_changes: vec![0.0; if track_sums { k * d } else { 0 }], count_changes: vec![0; k], changed: 0, inertia: 0.0 };
        for slot in &slots {
            for (total, value) in pass.sum_changes.iter_mut().zip(&slot.sum_changes) {
                *total += value;
            }
            for (total, value) in pass.count_changes.iter_mut().zip(&slot.count_changes) {
                *total += value;
            }
            pass.changed += slot.changed;
            pass.inertia += slot.inertia;
        }
        Ok(pass)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BoundsMode {
    /// No bounds yet: every row is measured against every centre.
    Initial,
    Update,
    /// As `Update`, but the distance to the own centre is always computed, for inertia.
    Final,
}

struct HamerlyPass {
    sum_changes: Vec<f64>,
    count_changes: Vec<i64>,
    changed: usize,
    inertia: f64,
}

/// Half the distance from each centre to its nearest other centre: a row closer than
/// that to its centre is closer to it than to any other.
fn half_gaps_to_nearest_centre(centres: &[f64], d: usize, k: usize) -> Vec<f64> {
    let mut gaps = vec![f64::INFINITY; k];
    for a in 0..k {
        for b in a + 1..k {
            let gap = squared_distance(&centres[a * d..(a + 1) * d], &centres[b * d..(b + 1) * d]).sqrt() * 0.5;
            gaps[a] = gaps[a].min(gap);
            gaps[b] = gaps[b].min(gap);
        }
    }
    // With one centre no row can move.
    gaps
}

#[cfg(test)]
mod tests {
    use super::super::tests::{blobs, never, options};
    use super::super::{fit, KMeansAlgorithm, KMeansOptions};

    #[test]
    fn lloyd_and_hamerly_agree() {
        let centres: Vec<f64> = (0..6 * 3).map(|i| (i * 5 % 7) as f64).collect();
        let (data, _) = blobs(&centres, 3, 500, 2.5, 3);
        let n = data.len() / 3;
        let lloyd = fit(&data, n, 3, &KMeansOptions { algorithm: KMeansAlgorithm::Lloyd, ..options(6) }, &never).unwrap();
        let hamerly = fit(&data, n, 3, &options(6), &never).unwrap();
        assert_eq!(lloyd.labels, hamerly.labels);
        assert_eq!(lloyd.n_iter, hamerly.n_iter);
        assert!((lloyd.inertia - hamerly.inertia).abs() <= 1e-9 * lloyd.inertia);
    }
}
