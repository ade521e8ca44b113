//! Probability calibration of a trained classifier: a monotone map from its log-odds to
//! calibrated log-odds, fitted on out-of-fold scores of the training rows (never on the
//! rows it is evaluated on).
//!
//! - Sigmoid (Platt 1999): p = σ(a·z + b) on the model's log-odds z, fitted by Newton's
//!   method on the log loss with Platt's smoothed targets ((N₊+1)/(N₊+2), 1/(N₋+2)), as
//!   scikit-learn's `CalibratedClassifierCV(method='sigmoid')`.
//! - Isotonic: the pool-adjacent-violators fit of the labels on z (a non-decreasing step
//!   function), interpolated linearly between block ends and clipped outside them, as
//!   scikit-learn's `IsotonicRegression(out_of_bounds='clip')`.
//!
//! Being monotone, calibration keeps the ranking (ROC AUC) and changes probabilities only.

use serde::{Deserialize, Serialize};

/// Calibrated probabilities are kept inside [P_MIN, 1 − P_MIN] so that their log-odds stay
/// finite.
const P_MIN: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    None,
    Sigmoid,
    Isotonic,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Sigmoid => "sigmoid",
            Method::Isotonic => "isotonic",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    Sigmoid {
        a: f64,
        b: f64,
    },
    /// Knots (log-odds, probability), log-odds strictly increasing, probabilities
    /// non-decreasing.
    Isotonic {
        z: Vec<f64>,
        p: Vec<f64>,
    },
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(P_MIN, 1.0 - P_MIN);
    (p / (1.0 - p)).ln()
}

impl Calibrator {
    /// Fits `method` on log-odds `z` and labels `y`; None for `Method::None` or when the
    /// labels hold one class.
    pub fn fit(method: Method, z: &[f64], y: &[bool]) -> Option<Calibrator> {
        let positives = y.iter().filter(|&&v| v).count();
        if method == Method::None || positives == 0 || positives == y.len() {
            return None;
        }
        Some(match method {
            Method::Sigmoid => fit_sigmoid(z, y, positives),
            _ => fit_isotonic(z, y),
        })
    }

    /// Calibrated log-odds of log-odds `z`.
    pub fn log_odds(&self, z: f64) -> f64 {
        match self {
            Calibrator::Sigmoid { a, b } => a * z + b,
            Calibrator::Isotonic { z: knots, p } => logit(interpolate(knots, p, z)),
        }
    }

    /// Whether stored knots and coefficients can be used safely.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Calibrator::Sigmoid { a, b } if a.is_finite() && b.is_finite() => Ok(()),
            Calibrator::Sigmoid { .. } => Err("a sigmoid calibration with non-finite coefficients".into()),
            Calibrator::Isotonic { z, p } => {
                if z.is_empty() || z.len() != p.len() {
                    return Err(format!("an isotonic calibration with {} knots and {} values", z.len(), p.len()));
                }
                if z.iter().chain(p).any(|v| !v.is_finite()) || p.iter().any(|v| !(0.0..=1.0).contains(v)) {
                    return Err("an isotonic calibration with values outside [0, 1]".into());
                }
                // finite from here: the comparisons below are total
                if z.windows(2).any(|w| w[0] >= w[1]) || p.windows(2).any(|w| w[0] > w[1]) {
                    return Err("an isotonic calibration whose knots are not increasing".into());
                }
                Ok(())
            }
        }
    }
}

/// Piecewise-linear through the knots, flat outside them.
fn interpolate(knots: &[f64], p: &[f64], z: f64) -> f64 {
    let at = knots.partition_point(|&k| k <= z);
    if at == 0 {
        return p[0];
    }
    if at == knots.len() {
        return p[knots.len() - 1];
    }
    let (z0, z1, p0, p1) = (knots[at - 1], knots[at], p[at - 1], p[at]);
    p0 + (p1 - p0) * (z - z0) / (z1 - z0)
}

fn fit_sigmoid(z: &[f64], y: &[bool], positives: usize) -> Calibrator {
    let negatives = y.len() - positives;
    let hi = (positives as f64 + 1.0) / (positives as f64 + 2.0);
    let lo = 1.0 / (negatives as f64 + 2.0);
    let t: Vec<f64> = y.iter().map(|&v| if v { hi } else { lo }).collect();
    let (mut a, mut b) = (1.0, 0.0);
    let loss = |a: f64, b: f64| -> f64 {
        z.iter()
            .zip(&t)
            .map(|(&z, &t)| {
                let q = sigmoid(a * z + b).clamp(1e-15, 1.0 - 1e-15);
                -(t * q.ln() + (1.0 - t) * (1.0 - q).ln())
            })
            .sum()
    };
    let mut current = loss(a, b);
    // Newton with a backtracking step (the Hessian of the log loss is positive
    // semi-definite; 1e-9 on its diagonal keeps it invertible on separable scores).
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (&z, &t) in z.iter().zip(&t) {
            let q = sigmoid(a * z + b);
            let (g, h) = (q - t, (q * (1.0 - q)).max(1e-12));
            ga += g * z;
            gb += g;
            haa += h * z * z;
            hab += h * z;
            hbb += h;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-300 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-8 {
            let (na, nb) = (a - step * da, b - step * db);
            let l = loss(na, nb);
            if l <= current {
                improved = current - l > 1e-12 * current.max(1.0);
                (a, b, current) = (na, nb, l);
                break;
            }
            step /= 2.0;
        }
        if !improved {
            break;
        }
    }
    Calibrator::Sigmoid { a, b }
}

fn fit_isotonic(z: &[f64], y: &[bool]) -> Calibrator {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&i, &j| z[i].total_cmp(&z[j]));
    // Blocks of (sum of labels, rows, smallest z, largest z); equal z start as one block.
    let mut blocks: Vec<(f64, f64, f64, f64)> = Vec::new();
    for &i in &order {
        let label = y[i] as u8 as f64;
        match blocks.last_mut() {
            Some(last) if last.3 == z[i] => {
                last.0 += label;
                last.1 += 1.0;
            }
            _ => blocks.push((label, 1.0, z[i], z[i])),
        }
        // pool adjacent violators: merge while the last block's mean is below the one before
        while blocks.len() > 1 {
            let n = blocks.len();
            let (s1, c1, _, hi1) = blocks[n - 1];
            let (s0, c0, lo0, _) = blocks[n - 2];
            if s0 / c0 <= s1 / c1 {
                break;
            }
            blocks.truncate(n - 2);
            blocks.push((s0 + s1, c0 + c1, lo0, hi1));
        }
    }
    let mut knots: Vec<f64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    for &(s, c, lo, hi) in &blocks {
        let p = s / c;
        for k in [lo, hi] {
            if knots.last().is_none_or(|&last| k > last) {
                knots.push(k);
                values.push(p);
            }
        }
    }
    Calibrator::Isotonic { z: knots, p: values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::metrics::expected_calibration_error;
    use crate::rng::SplitMix64;

    /// Scores that are overconfident: true log-odds t, reported 3·t + 1.
    fn overconfident(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = SplitMix64::new(seed);
        let mut z = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let t = rng.next_f64() * 6.0 - 3.0;
            y.push(rng.next_f64() < sigmoid(t));
            z.push(3.0 * t + 1.0);
        }
        (z, y)
    }

    #[test]
    fn sigmoid_recovers_the_distortion_and_lowers_ece() {
        let (z, y) = overconfident(20_000, 1);
        let Some(Calibrator::Sigmoid { a, b }) = Calibrator::fit(Method::Sigmoid, &z, &y) else { panic!("no sigmoid") };
        assert!((a - 1.0 / 3.0).abs() < 0.03 && (b + 1.0 / 3.0).abs() < 0.05, "a {a}, b {b}");
        let (z2, y2) = overconfident(20_000, 2);
        let raw: Vec<f64> = z2.iter().map(|&v| sigmoid(v)).collect();
        let cal = Calibrator::fit(Method::Sigmoid, &z, &y).unwrap();
        let fixed: Vec<f64> = z2.iter().map(|&v| sigmoid(cal.log_odds(v))).collect();
        let (before, after) = (expected_calibration_error(&raw, &y2), expected_calibration_error(&fixed, &y2));
        assert!(after < before / 3.0 && after < 0.02, "ECE {before} -> {after}");
    }

    #[test]
    fn isotonic_is_monotone_clipped_and_lowers_ece() {
        let (z, y) = overconfident(20_000, 3);
        let cal = Calibrator::fit(Method::Isotonic, &z, &y).unwrap();
        cal.validate().unwrap();
        let grid: Vec<f64> = (-200..=200).map(|i| i as f64 / 10.0).collect();
        let out: Vec<f64> = grid.iter().map(|&v| cal.log_odds(v)).collect();
        assert!(out.windows(2).all(|w| w[0] <= w[1]), "monotone");
        assert!(out.iter().all(|v| v.is_finite()), "clipped to finite log-odds");
        let (z2, y2) = overconfident(20_000, 4);
        let raw: Vec<f64> = z2.iter().map(|&v| sigmoid(v)).collect();
        let fixed: Vec<f64> = z2.iter().map(|&v| sigmoid(cal.log_odds(v))).collect();
        let (before, after) = (expected_calibration_error(&raw, &y2), expected_calibration_error(&fixed, &y2));
        assert!(after < before / 3.0 && after < 0.03, "ECE {before} -> {after}");
    }

    #[test]
    fn pav_pools_violators_exactly() {
        // labels by rising score: 1 0 | 1 1 → blocks [0.5 0.5] [1 1]
        let cal = fit_isotonic(&[1.0, 2.0, 3.0, 4.0], &[true, false, true, true]);
        assert_eq!(cal, Calibrator::Isotonic { z: vec![1.0, 2.0, 3.0, 4.0], p: vec![0.5, 0.5, 1.0, 1.0] });
        assert_eq!(interpolate(&[1.0, 2.0, 3.0, 4.0], &[0.5, 0.5, 1.0, 1.0], 2.5), 0.75);
        assert!(Calibrator::fit(Method::Isotonic, &[1.0, 2.0], &[true, true]).is_none(), "one class: nothing to fit");
        assert!(Calibrator::Isotonic { z: vec![2.0, 1.0], p: vec![0.1, 0.2] }.validate().is_err());
        assert!(Calibrator::Sigmoid { a: f64::NAN, b: 0.0 }.validate().is_err());
    }
}
