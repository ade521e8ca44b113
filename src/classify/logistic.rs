//! L2-regularised logistic regression, scikit-learn's objective
//! `0.5·‖w‖² + C·Σ sᵢ·logloss(yᵢ, σ(b + w·xᵢ))` (intercept not penalised, sᵢ sample
//! weights for `class_weight = 'balanced'`), minimised with argmin's L-BFGS and a
//! More-Thuente line search. The objective and gradient are ours (argmin's logistic
//! examples take no sample weights, linfa-logistic neither); the gradient is summed over
//! row chunks on worker threads that never call Postgres.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    pub c: f64,
    pub max_iter: u64,
    /// Stop when the gradient norm falls below this.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams { c: 1.0, max_iter: 200, tol: 1e-6 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl LogisticModel {
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

struct Problem<'a> {
    x: &'a [f64],
    width: usize,
    y: &'a [f64],
    weight: &'a [f64],
    total_weight: f64,
    c: f64,
    interrupt: &'a (dyn Fn() + Sync),
}

impl Problem<'_> {
    /// (cost, gradient) at `theta` = [w..., b].
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        (self.interrupt)();
        let d = self.width;
        let n = self.y.len();
        let threads = if n * d > 2_000_000 { std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(8) } else { 1 };
        let chunk = n.div_ceil(threads.max(1)).max(1);
        let partial = |lo: usize, hi: usize| -> (f64, Vec<f64>) {
            let mut loss = 0.0;
            let mut grad = vec![0.0; d + 1];
            for i in lo..hi {
                let row = &self.x[i * d..(i + 1) * d];
                let z = theta[d] + row.iter().zip(&theta[..d]).map(|(a, b)| a * b).sum::<f64>();
                let s = self.weight[i];
                loss += s * (softplus(z) - self.y[i] * z);
                let r = s * (sigmoid(z) - self.y[i]);
                for (g, v) in grad[..d].iter_mut().zip(row) {
                    *g += r * v;
                }
                grad[d] += r;
            }
            (loss, grad)
        };
        let parts: Vec<(f64, Vec<f64>)> = if threads <= 1 {
            vec![partial(0, n)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (lo, hi) = (t * chunk, ((t + 1) * chunk).min(n));
                        scope.spawn(move || partial(lo, hi))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| (f64::NAN, vec![f64::NAN; d + 1]))).collect()
            })
        };
        let s = self.total_weight;
        let mut loss = 0.0;
        let mut grad = vec![0.0; d + 1];
        for (l, g) in parts {
            loss += l;
            grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
        let penalty = 1.0 / (self.c * s);
        let norm2: f64 = theta[..d].iter().map(|w| w * w).sum();
        let cost = loss / s + 0.5 * penalty * norm2;
        for (g, w) in grad[..d].iter_mut().zip(&theta[..d]) {
            *g = *g / s + penalty * w;
        }
        grad[d] /= s;
        (cost, grad)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(theta).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// Fits on a row-major matrix `x` (n × width) with labels 0/1 and sample weights.
/// `interrupt` is called once per objective evaluation (the SQL layer checks for
/// cancellation there).
pub fn fit(
    x: &[f64],
    width: usize,
    y: &[f64],
    weight: &[f64],
    params: &LogisticParams,
    interrupt: &(dyn Fn() + Sync),
) -> Result<LogisticModel> {
    let total_weight: f64 = weight.iter().sum();
    if y.is_empty() || total_weight <= 0.0 {
        return Err(CrmError::InvalidArgument("no training rows".into()));
    }
    let problem = Problem { x, width, y, weight, total_weight, c: params.c, interrupt };
    // Start from the intercept of the base rate: fewer iterations than from zero.
    let rate = (y.iter().zip(weight).map(|(a, s)| a * s).sum::<f64>() / total_weight).clamp(1e-6, 1.0 - 1e-6);
    let mut theta0 = vec![0.0; width + 1];
    theta0[width] = (rate / (1.0 - rate)).ln();
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        .with_tolerance_grad(params.tol)
        .and_then(|s| s.with_tolerance_cost(1e-12))
        .map_err(|e| CrmError::InvalidArgument(format!("logistic solver settings: {e}")))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(theta0.clone()).max_iters(params.max_iter))
        .run();
    let theta = match result {
        Ok(res) => res.state().get_best_param().cloned().unwrap_or(theta0),
        Err(e) => return Err(CrmError::InvalidArgument(format!("logistic regression did not converge: {e}"))),
    };
    if theta.iter().any(|v| !v.is_finite()) {
        return Err(CrmError::InvalidArgument("logistic regression diverged (non-finite weights); try a smaller C".into()));
    }
    Ok(LogisticModel { intercept: theta[width], weights: theta[..width].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_model() {
        // y ~ Bernoulli(σ(0.5 + 2·x1 − 1·x2)); with 20k rows and weak regularisation the
        // fitted weights are close to the truth.
        let mut s: u64 = 1;
        let mut r = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 20_000;
        let mut x = Vec::with_capacity(n * 2);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let (a, b) = (r() * 2.0 - 1.0, r() * 2.0 - 1.0);
            x.extend([a, b]);
            y.push((r() < sigmoid(0.5 + 2.0 * a - b)) as u8 as f64);
        }
        let w = vec![1.0; n];
        let m = fit(&x, 2, &y, &w, &LogisticParams { c: 100.0, ..Default::default() }, &|| {}).unwrap();
        assert!((m.weights[0] - 2.0).abs() < 0.15, "{m:?}");
        assert!((m.weights[1] + 1.0).abs() < 0.15, "{m:?}");
        assert!((m.intercept - 0.5).abs() < 0.1, "{m:?}");
    }

    #[test]
    fn separable_data_stays_finite_with_regularisation() {
        let x = vec![-2.0, -1.0, 1.0, 2.0];
        let y = vec![0.0, 0.0, 1.0, 1.0];
        let m = fit(&x, 1, &y, &[1.0; 4], &LogisticParams::default(), &|| {}).unwrap();
        assert!(m.weights[0].is_finite() && m.weights[0] > 0.0);
    }
}
