//! Feature importance of a trained model, two ways.
//!
//! - Contribution importance: the mean |contribution| of each feature over a set of rows,
//!   the contributions being the model's own exact explanation (`crm.explain`), in the
//!   model's output units (log-odds for classifiers, the link scale for regressors). The
//!   direction says how the feature moves the output: for a numeric column the sign of the
//!   correlation between its value and its contribution, for a text column the level
//!   whose rows it raises most.
//! - Permutation importance: how much a quality metric falls when one feature's values
//!   are shuffled across the rows (its encoded block moves as a unit, so the shuffle is
//!   exactly a shuffle of the raw column), averaged over repeats; seeded.

use std::collections::HashMap;

use crate::classify::features::Value;
use crate::error::Result;
use crate::pool::Cancelled;
use crate::rng::SplitMix64;

/// One feature's importance.
#[derive(Debug, Clone, PartialEq)]
pub struct Importance {
    pub feature: usize,
    pub importance: f64,
    pub direction: String,
}

/// Correlation below which a numeric feature's direction is "mixed".
const CLEAR_CORRELATION: f64 = 0.1;

#[derive(Default, Clone)]
struct Moments {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Moments {
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
    }

    fn correlation(&self) -> f64 {
        let cov = self.sxy - self.sx * self.sy / self.n;
        let vx = self.sxx - self.sx * self.sx / self.n;
        let vy = self.syy - self.sy * self.sy / self.n;
        if vx <= 1e-12 * self.n.max(1.0) || vy <= 1e-24 * self.n.max(1.0) {
            return 0.0;
        }
        cov / (vx * vy).sqrt()
    }
}

/// Accumulates contributions row by row.
pub struct ContributionImportance {
    abs_sum: Vec<f64>,
    numeric: Vec<Moments>,
    /// Per feature: level → (sum of contributions, rows).
    by_level: Vec<HashMap<String, (f64, u64)>>,
    rows: u64,
}

impl ContributionImportance {
    pub fn new(features: usize) -> ContributionImportance {
        ContributionImportance { abs_sum: vec![0.0; features], numeric: vec![Moments::default(); features], by_level: vec![HashMap::new(); features], rows: 0 }
    }

    /// One row: its raw values and its per-feature contributions.
    pub fn add(&mut self, values: &[Value<'_>], contributions: &[f64]) {
        self.rows += 1;
        for (i, (&c, value)) in contributions.iter().zip(values).enumerate() {
            self.abs_sum[i] += c.abs();
            match value {
                Value::Number(x) if x.is_finite() => self.numeric[i].add(*x, c),
                Value::Text(t) => {
                    let e = self.by_level[i].entry((*t).to_string()).or_insert((0.0, 0));
                    e.0 += c;
                    e.1 += 1;
                }
                _ => {}
            }
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Importances, largest first.
    pub fn finish(&self) -> Vec<Importance> {
        let n = self.rows.max(1) as f64;
        let mut out: Vec<Importance> = (0..self.abs_sum.len())
            .map(|i| {
                let importance = self.abs_sum[i] / n;
                let direction = if importance == 0.0 {
                    "none".to_string()
                } else if !self.by_level[i].is_empty() {
                    // levels seen at least 1 % of the rows (or once on few rows)
                    let min_rows = (self.rows / 100).max(1);
                    self.by_level[i]
                        .iter()
                        .filter(|(_, (_, k))| *k >= min_rows)
                        .map(|(level, (sum, k))| (level, sum / *k as f64))
                        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)))
                        .map(|(level, _)| format!("highest for '{level}'"))
                        .unwrap_or_else(|| "mixed".to_string())
                } else {
                    let r = self.numeric[i].correlation();
                    if r > CLEAR_CORRELATION {
                        "increases".to_string()
                    } else if r < -CLEAR_CORRELATION {
                        "decreases".to_string()
                    } else {
                        "mixed".to_string()
                    }
                };
                Importance { feature: i, importance, direction }
            })
            .collect();
        out.sort_by(|a, b| b.importance.total_cmp(&a.importance).then(a.feature.cmp(&b.feature)));
        out
    }
}

/// Permutation importance on an encoded row-major matrix `x` (rows × `width`): for each
/// feature block `(start, len)`, the mean over `repeats` shuffles of
/// `metric(baseline predictions) − metric(predictions with the block shuffled)`, where a
/// larger `metric` is better. `predict` scores one encoded row. Polls `should_stop`
/// between shuffles.
#[allow(clippy::too_many_arguments)]
pub fn permutation(
    x: &[f64],
    width: usize,
    blocks: &[(usize, usize)],
    predict: &dyn Fn(&[f64]) -> f64,
    metric: &dyn Fn(&[f64]) -> f64,
    repeats: usize,
    seed: u64,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<f64>> {
    let rows = x.len().checked_div(width).unwrap_or(0);
    let baseline_predictions: Vec<f64> = (0..rows).map(|r| predict(&x[r * width..(r + 1) * width])).collect();
    let baseline = metric(&baseline_predictions);
    let mut rng = SplitMix64::new(seed);
    let mut row = vec![0.0; width];
    let mut predictions = vec![0.0; rows];
    let mut order: Vec<usize> = (0..rows).collect();
    let mut out = Vec::with_capacity(blocks.len());
    for &(start, len) in blocks {
        let mut drop = 0.0;
        for _ in 0..repeats.max(1) {
            if should_stop() {
                return Err(Cancelled.into());
            }
            for i in (1..rows).rev() {
                order.swap(i, rng.below_modulo(i + 1));
            }
            for r in 0..rows {
                row.copy_from_slice(&x[r * width..(r + 1) * width]);
                let donor = order[r];
                row[start..start + len].copy_from_slice(&x[donor * width + start..donor * width + start + len]);
                predictions[r] = predict(&row);
            }
            drop += baseline - metric(&predictions);
        }
        out.push(drop / repeats.max(1) as f64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_absolute_contribution_and_direction() {
        let mut acc = ContributionImportance::new(3);
        for i in 0..100 {
            let a = i as f64;
            let plan = if i % 2 == 0 { "gold" } else { "basic" };
            // a lowers the output as it grows; plan gold adds 1; the third does nothing
            acc.add(&[Value::Number(a), Value::Text(plan), Value::Null], &[-0.01 * a, if i % 2 == 0 { 1.0 } else { -1.0 }, 0.0]);
        }
        let out = acc.finish();
        assert_eq!(out.iter().map(|i| i.feature).collect::<Vec<_>>(), [1, 0, 2]);
        assert!((out[0].importance - 1.0).abs() < 1e-12);
        assert!((out[1].importance - 0.495).abs() < 1e-12);
        assert_eq!(out[0].direction, "highest for 'gold'");
        assert_eq!(out[1].direction, "decreases");
        assert_eq!(out[2].direction, "none");
    }

    #[test]
    fn shuffling_a_used_feature_costs_and_an_unused_one_does_not() {
        // y = x0; x1 is noise the model ignores
        let mut rng = SplitMix64::new(1);
        let rows = 500;
        let width = 2;
        let x: Vec<f64> = (0..rows * width).map(|_| rng.next_f64()).collect();
        let truth: Vec<f64> = (0..rows).map(|r| x[r * width]).collect();
        let predict = |row: &[f64]| row[0];
        let neg_mse = |p: &[f64]| -p.iter().zip(&truth).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / p.len() as f64;
        let out = permutation(&x, width, &[(0, 1), (1, 1)], &predict, &neg_mse, 3, 7, &|| false).unwrap();
        assert!(out[0] > 0.1, "{out:?}");
        assert_eq!(out[1], 0.0);
        assert_eq!(permutation(&x, width, &[(0, 1), (1, 1)], &predict, &neg_mse, 3, 7, &|| false).unwrap(), out, "seeded");
        assert!(permutation(&x, width, &[(0, 1)], &predict, &neg_mse, 3, 7, &|| true).is_err());
    }
}
