//! Seeding: scikit-learn's greedy k-means++.

use super::distance::{squared_distance, CentrePanel};
use super::parallel::{run_parallel, Blocks};
use super::restart::Restart;
use super::KMeansError;
use crate::rng::SplitMix64;

impl Restart<'_> {
    /// scikit-learn's greedy k-means++: each new centre is the best (by resulting
    /// potential) of 2 + ⌊ln k⌋ rows drawn with probability ∝ squared distance to the
    /// nearest centre chosen so far.
    pub(super) fn kmeans_plus_plus(&self, rng: &mut SplitMix64) -> Result<Vec<f64>, KMeansError> {
        let matrix = self.matrix;
        let (n, d, k) = (matrix.n_rows, matrix.n_cols, self.k);
        let trials = 2 + (k as f64).ln().floor() as usize;
        let mut centres = Vec::with_capacity(k * d);
        centres.extend_from_slice(matrix.row(rng.below(n)));
        let mut closest = vec![f64::INFINITY; n];

        let update_blocks = Blocks::new(n, d, 1);
        let mut slot_totals = self.update_closest(&update_blocks, &mut closest, &centres)?;
        let trial_blocks = Blocks::new(n, trials * d, trials);
        let mut candidates = Vec::with_capacity(trials * d);
        for _ in 1..k {
            let potential: f64 = slot_totals.iter().sum();
            candidates.clear();
            for _ in 0..trials {
                let index = sample_by_weight(&closest, &update_blocks, &slot_totals, rng.next_f64() * potential).unwrap_or_else(|| rng.below(n));
                candidates.extend_from_slice(matrix.row(index));
            }
            let potentials = self.candidate_potentials(&trial_blocks, &closest, &candidates)?;
            let mut best_trial = 0;
            for (trial, &value) in potentials.iter().enumerate() {
                if value < potentials[best_trial] {
                    best_trial = trial;
                }
            }
            let chosen = &candidates[best_trial * d..(best_trial + 1) * d];
            centres.extend_from_slice(chosen);
            if centres.len() < k * d {
                slot_totals = self.update_closest(&update_blocks, &mut closest, chosen)?;
            }
        }
        Ok(centres)
    }

    /// Lowers each row's squared distance to its nearest centre with `centre`; returns
    /// the slot sums of those distances.
    fn update_closest(&self, blocks: &Blocks, closest: &mut [f64], centre: &[f64]) -> Result<Vec<f64>, KMeansError> {
        struct Slot<'s> {
            first_row: usize,
            closest: &'s mut [f64],
            total: f64,
        }
        let mut slots: Vec<Slot> =
            blocks.split_mut(closest).into_iter().zip(&blocks.slots).map(|(closest, range)| Slot { first_row: range.start, closest, total: 0.0 }).collect();
        let matrix = self.matrix;
        run_parallel(blocks, &mut slots, self.threads, self.should_stop, &|slot, rows| {
            for i in rows {
                let value = &mut slot.closest[i - slot.first_row];
                *value = value.min(squared_distance(matrix.row(i), centre));
                slot.total += *value;
            }
        })?;
        Ok(slots.iter().map(|slot| slot.total).collect())
    }

    /// For each candidate centre, the potential (sum of squared distances to the
    /// nearest centre) if it were added.
    fn candidate_potentials(&self, blocks: &Blocks, closest: &[f64], candidates: &[f64]) -> Result<Vec<f64>, KMeansError> {
        let d = self.matrix.n_cols;
        let trials = candidates.len() / d;
        let mut slots: Vec<Vec<f64>> = vec![vec![0.0; trials]; blocks.slots.len()];
        let matrix = self.matrix;
        let panel = CentrePanel::new(candidates, d);
        run_parallel(blocks, &mut slots, self.threads, self.should_stop, &|potentials, rows| {
            for i in rows {
                let squares = panel.groups(matrix.row(i)).flatten();
                for (potential, distance) in potentials.iter_mut().zip(squares) {
                    *potential += closest[i].min(distance);
                }
            }
        })?;
        let mut totals = vec![0.0; trials];
        for slot in &slots {
            for (total, value) in totals.iter_mut().zip(slot) {
                *total += value;
            }
        }
        Ok(totals)
    }
}

/// The first row at which the running sum of `weights` reaches `target`, among rows of
/// positive weight (the searchsorted of scikit-learn's k-means++); `None` when all
/// weights are 0. `slot_totals` are the weight sums of `blocks`' slots.
fn sample_by_weight(weights: &[f64], blocks: &Blocks, slot_totals: &[f64], target: f64) -> Option<usize> {
    let mut running = 0.0;
    let mut last_positive = None;
    for (range, &total) in blocks.slots.iter().zip(slot_totals) {
        if total <= 0.0 {
            continue;
        }
        if running + total < target {
            running += total;
            // Rounding may leave the target past the very end: fall back to this slot.
            last_positive = Some(range.clone());
            continue;
        }
        for i in range.clone() {
            running += weights[i];
            if weights[i] > 0.0 && running >= target {
                return Some(i);
            }
        }
        last_positive = Some(range.clone());
    }
    last_positive.and_then(|range| range.rev().find(|&i| weights[i] > 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_sampling_follows_the_running_sum() {
        let weights = [0.0, 1.0, 0.0, 2.0, 0.0];
        let blocks = Blocks::new(5, 1, 1);
        let totals = [3.0];
        assert_eq!(sample_by_weight(&weights, &blocks, &totals, 0.0), Some(1));
        assert_eq!(sample_by_weight(&weights, &blocks, &totals, 1.0), Some(1));
        assert_eq!(sample_by_weight(&weights, &blocks, &totals, 1.5), Some(3));
        // Past the total (rounding): the last row of positive weight.
        assert_eq!(sample_by_weight(&weights, &blocks, &totals, 3.5), Some(3));
        assert_eq!(sample_by_weight(&[0.0; 5], &blocks, &[0.0], 0.0), None);
    }
}
