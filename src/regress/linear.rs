//! Ridge regression on the encoded columns (standardised numbers, indicators, one-hot
//! levels) with sample weights: minimises `Σ sᵢ·(yᵢ − b − w·xᵢ)² + α·‖w‖²`, scikit-learn's
//! Ridge objective (intercept not penalised).
//!
//! Closed form: with weighted means x̄, ȳ the centred normal equations
//! `(Xcᵀ S Xc + α I) w = Xcᵀ S yc` and `b = ȳ − x̄·w`. The system is d × d for d encoded
//! columns (a few hundred at most in CRM tables), so one pass over the rows to build it
//! and a hand-written Cholesky solve (d³/6 flops, milliseconds) are all it takes; a linear
//! algebra crate would add a dependency for twenty lines. The row pass is summed over
//! fixed row chunks on the pool, in chunk order, so the fit does not depend on the number
//! of threads.

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::pool;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegressor {
    /// One weight per encoded column.
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl LinearRegressor {
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

/// Rows per task of the row pass: fixed by the row count alone (at most 32 tasks, each
/// holding one d × d partial sum), never by the threads.
fn chunk_rows(n: usize) -> usize {
    n.div_ceil(32).max(1024)
}

/// Solves `a·z = b` for a symmetric positive definite `a` (d × d, row-major, only the
/// lower triangle read; overwritten by its Cholesky factor). None when a pivot is not
/// positive (the matrix is singular or indefinite up to rounding).
fn cholesky_solve(a: &mut [f64], d: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut pivot = a[j * d + j];
        for k in 0..j {
            pivot -= a[j * d + k] * a[j * d + k];
        }
        // relative to the original diagonal: rounding leaves tiny positives on singular systems
        if pivot.is_nan() || pivot <= 1e-12 * a[j * d + j].abs().max(f64::MIN_POSITIVE) {
            return None;
        }
        let l = pivot.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / l;
        }
    }
    // L·u = b, then Lᵀ·z = u
    let mut z = b.to_vec();
    for i in 0..d {
        for k in 0..i {
            z[i] -= a[i * d + k] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            z[i] -= a[k * d + i] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    Some(z)
}

/// Fits ridge on a row-major matrix `x` (n × width), targets `y` and sample weights, with
/// penalty `alpha` (0: ordinary least squares; a singular system then gets the smallest
/// diagonal jitter that makes it solvable, so collinear columns such as a complete one-hot
/// group share their weight instead of failing). `threads` as the pool's (0: the cap).
/// `should_stop` is polled between row chunks; when it answers true the fit ends with
/// `CrmError::Canceled`.
pub fn fit(x: &[f64], width: usize, y: &[f64], weight: &[f64], alpha: f64, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<LinearRegressor> {
    let n = y.len();
    let d = width;
    let total_w: f64 = weight.iter().sum();
    if n == 0 || total_w <= 0.0 || !total_w.is_finite() {
        return Err(CrmError::InvalidArgument("ridge regression needs at least one row of positive weight".into()));
    }
    let chunk = chunk_rows(n);
    // Pass 1: weighted means, so the Gram matrix is built from centred values (no
    // cancellation between large raw moments).
    let sums = pool::map_ranges(n, chunk, threads, should_stop, |rows, _| {
        let mut s = vec![0.0; d + 1];
        for i in rows {
            let w = weight[i];
            for j in 0..d {
                s[j] += w * x[i * d + j];
            }
            s[d] += w * y[i];
        }
        s
    })?;
    let mut mean = vec![0.0; d + 1];
    for s in &sums {
        mean.iter_mut().zip(s).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= total_w);
    let (x_mean, y_mean) = (&mean[..d], mean[d]);
    // Pass 2: the lower triangle of Xcᵀ S Xc and Xcᵀ S yc.
    let parts = pool::map_ranges(n, chunk, threads, should_stop, |rows, _| {
        let mut gram = vec![0.0; d * d];
        let mut rhs = vec![0.0; d];
        let mut centred = vec![0.0; d];
        for i in rows {
            let w = weight[i];
            for j in 0..d {
                centred[j] = x[i * d + j] - x_mean[j];
            }
            let yc = y[i] - y_mean;
            for j in 0..d {
                let wj = w * centred[j];
                rhs[j] += wj * yc;
                for k in 0..=j {
                    gram[j * d + k] += wj * centred[k];
                }
            }
        }
        (gram, rhs)
    })?;
    let mut gram = vec![0.0; d * d];
    let mut rhs = vec![0.0; d];
    for (g, r) in &parts {
        gram.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        rhs.iter_mut().zip(r).for_each(|(a, b)| *a += b);
    }
    let scale = (0..d).map(|j| gram[j * d + j]).fold(0.0, f64::max).max(1.0);
    let mut jitter = 0.0;
    let weights = loop {
        let mut a = gram.clone();
        (0..d).for_each(|j| a[j * d + j] += alpha + jitter);
        if let Some(w) = cholesky_solve(&mut a, d, &rhs) {
            break w;
        }
        // singular (α = 0 with collinear or constant columns): grow a jitter relative to the
        // largest diagonal until the system solves
        jitter = if jitter == 0.0 { 1e-10 * scale } else { jitter * 10.0 };
        if jitter > scale {
            return Err(CrmError::InvalidArgument("ridge regression: the normal equations cannot be solved (use options.alpha > 0)".into()));
        }
    };
    let intercept = y_mean - weights.iter().zip(x_mean).map(|(w, m)| w * m).sum::<f64>();
    Ok(LinearRegressor { weights, intercept })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// y = 3 + 2·a − 1.5·b + 0·c (+ noise), columns of different scales.
    fn data(n: usize, noise: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b, c) = (rng.next_f64() * 4.0 - 2.0, rng.next_f64() * 10.0, rng.next_f64());
            x.extend([a, b, c]);
            y.push(3.0 + 2.0 * a - 1.5 * b + noise * (rng.next_f64() - 0.5));
        }
        (x, y)
    }

    #[test]
    fn recovers_known_coefficients() {
        let (x, y) = data(2000, 0.5, 1);
        let m = fit(&x, 3, &y, &vec![1.0; 2000], 1e-3, 0, &|| false).unwrap();
        let expected = [2.0, -1.5, 0.0];
        for (w, e) in m.weights.iter().zip(expected) {
            assert!((w - e).abs() < 0.02, "{:?}", m.weights);
        }
        assert!((m.intercept - 3.0).abs() < 0.05, "{}", m.intercept);
        // alpha → 0 on exact data: the least-squares solution to rounding
        let (x, y) = data(50, 0.0, 2);
        let m = fit(&x, 3, &y, &vec![1.0; 50], 0.0, 0, &|| false).unwrap();
        assert!(
            (m.intercept - 3.0).abs() < 1e-9 && (m.weights[0] - 2.0).abs() < 1e-9 && (m.weights[1] + 1.5).abs() < 1e-9 && m.weights[2].abs() < 1e-9,
            "{m:?}"
        );
    }

    #[test]
    fn solves_the_penalised_weighted_objective() {
        // At the optimum of Σ s·r² + α‖w‖² (r = y − b − w·x): Σ s·r = 0 and Σ s·r·xⱼ = α·wⱼ.
        let (x, y) = data(300, 3.0, 3);
        let mut rng = SplitMix64::new(4);
        let s: Vec<f64> = (0..300).map(|_| 0.5 + rng.next_f64() * 2.0).collect();
        for alpha in [0.0, 10.0, 1000.0] {
            let m = fit(&x, 3, &y, &s, alpha, 0, &|| false).unwrap();
            let r: Vec<f64> = (0..300).map(|i| y[i] - m.predict(&x[i * 3..i * 3 + 3])).collect();
            let scale = y.iter().map(|v| v.abs()).sum::<f64>();
            assert!((0..300).map(|i| s[i] * r[i]).sum::<f64>().abs() < 1e-9 * scale, "alpha {alpha}");
            for j in 0..3 {
                let g = (0..300).map(|i| s[i] * r[i] * x[i * 3 + j]).sum::<f64>();
                assert!((g - alpha * m.weights[j]).abs() < 1e-7 * scale, "alpha {alpha}, column {j}: {g} vs {}", alpha * m.weights[j]);
            }
        }
        // a large penalty shrinks the weights
        let small = fit(&x, 3, &y, &s, 1.0, 0, &|| false).unwrap();
        let big = fit(&x, 3, &y, &s, 1e5, 0, &|| false).unwrap();
        assert!(big.weights[0].abs() < 0.5 * small.weights[0].abs(), "{:?} vs {:?}", big.weights, small.weights);
    }

    #[test]
    fn collinear_columns_and_threads() {
        // a complete one-hot group plus the intercept is singular without a penalty
        let n = 3000;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let level = i % 3;
            x.extend((0..3).map(|k| (k == level) as u8 as f64));
            y.push([1.0, 5.0, -2.0][level]);
        }
        let m = fit(&x, 3, &y, &vec![1.0; n], 0.0, 0, &|| false).unwrap();
        for (i, expected) in [1.0, 5.0, -2.0].iter().enumerate() {
            assert!((m.predict(&x[i * 3..i * 3 + 3]) - expected).abs() < 1e-6, "{m:?}");
        }
        let one = fit(&x, 3, &y, &vec![1.0; n], 0.5, 1, &|| false).unwrap();
        let two = fit(&x, 3, &y, &vec![1.0; n], 0.5, 2, &|| false).unwrap();
        assert_eq!(one, two, "the fit does not depend on the threads");
        let cancelled = fit(&x, 3, &y, &vec![1.0; n], 0.5, 1, &|| true);
        assert!(matches!(cancelled, Err(CrmError::Canceled(_))), "{cancelled:?}");
    }
}
