//! Gradient-boosted regression trees: the classifier's histogram boosting loop
//! (`classify::boosting::boost`: binning, leaf-wise trees with Newton leaf values,
//! shrinkage, early stopping on an internal validation slice) with regression losses.
//!
//! - squared error, identity link: g = f − y, h = 1, base = mean y;
//! - Poisson deviance, log link: g = eᶠ − y, h = eᶠ, base = ln(mean y);
//! - Tweedie deviance with power p ∈ (1, 2), log link:
//!   g = −y·e^{(1−p)f} + e^{(2−p)f}, h = −(1−p)·y·e^{(1−p)f} + (2−p)·e^{(2−p)f},
//!   base = ln(mean y).
//!
//! The raw prediction f = base + Σ leaf values is on the link scale; the prediction is
//! its inverse link.

use serde::{Deserialize, Serialize};

use super::options::RegressionLoss;
use crate::classify::boosting::{boost, path_contributions, BoostingParams, Loss};
use crate::classify::tree::Tree;
use crate::error::Result;

/// How the raw (summed) prediction maps to the target's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    Identity,
    /// prediction = exp(raw): Poisson and Tweedie losses, always positive.
    Log,
}

impl Link {
    pub fn inverse(self, raw: f64) -> f64 {
        match self {
            Link::Identity => raw,
            Link::Log => raw.exp(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostedRegressor {
    pub base: f64,
    pub trees: Vec<Tree>,
    pub link: Link,
}

impl BoostedRegressor {
    /// base + Σ leaf values: the prediction on the link scale.
    pub fn raw(&self, x: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.leaf(x).value).sum::<f64>()
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        self.link.inverse(self.raw(x))
    }

    /// (base, contributions per encoded column) adding up to `raw(x)` (Saabas path
    /// contributions, as the classifier's trees).
    pub fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        path_contributions(self.base, &self.trees, x, width)
    }
}

/// The weighted mean of `y` over `rows`.
fn weighted_mean(y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
    let total_w: f64 = rows.iter().map(|&r| weight[r as usize]).sum();
    rows.iter().map(|&r| y[r as usize] * weight[r as usize]).sum::<f64>() / total_w
}

/// ln of a mean of non-negative targets; an all-zero target starts near zero instead of
/// at −∞.
fn log_mean(y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
    weighted_mean(y, weight, rows).max(1e-10).ln()
}

struct SquaredError;

impl Loss for SquaredError {
    fn base(&self, y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
        weighted_mean(y, weight, rows)
    }

    #[inline]
    fn gradient(&self, f: f64, y: f64) -> (f64, f64) {
        (f - y, 1.0)
    }

    /// Half the squared error, whose derivative is the gradient above.
    #[inline]
    fn loss(&self, f: f64, y: f64) -> f64 {
        0.5 * (f - y) * (f - y)
    }
}

struct Poisson;

impl Loss for Poisson {
    fn base(&self, y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
        log_mean(y, weight, rows)
    }

    #[inline]
    fn gradient(&self, f: f64, y: f64) -> (f64, f64) {
        let mu = f.exp();
        (mu - y, mu.max(1e-16))
    }

    /// The negative log-likelihood up to terms in y alone (half the deviance plus a
    /// constant): what early stopping compares.
    #[inline]
    fn loss(&self, f: f64, y: f64) -> f64 {
        f.exp() - y * f
    }
}

struct Tweedie {
    power: f64,
}

impl Loss for Tweedie {
    fn base(&self, y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
        log_mean(y, weight, rows)
    }

    #[inline]
    fn gradient(&self, f: f64, y: f64) -> (f64, f64) {
        let p = self.power;
        let (a, b) = (((1.0 - p) * f).exp(), ((2.0 - p) * f).exp());
        (-y * a + b, (-(1.0 - p) * y * a + (2.0 - p) * b).max(1e-16))
    }

    /// The negative log-likelihood up to terms in y alone.
    #[inline]
    fn loss(&self, f: f64, y: f64) -> f64 {
        let p = self.power;
        -y * ((1.0 - p) * f).exp() / (1.0 - p) + ((2.0 - p) * f).exp() / (2.0 - p)
    }
}

/// Fits on a row-major matrix `x` (n × width), targets `y` (≥ 0 for the Poisson and
/// Tweedie losses: the caller checks) and sample weights. `should_stop` is polled before
/// each tree; when it answers true the fit ends with `CrmError::Canceled`.
pub fn fit(
    x: &[f64],
    width: usize,
    y: &[f64],
    weight: &[f64],
    p: &BoostingParams,
    loss: RegressionLoss,
    should_stop: &dyn Fn() -> bool,
) -> Result<BoostedRegressor> {
    let ((base, trees), link) = match loss {
        RegressionLoss::SquaredError => (boost(x, width, y, weight, p, &SquaredError, should_stop)?, Link::Identity),
        RegressionLoss::Poisson => (boost(x, width, y, weight, p, &Poisson, should_stop)?, Link::Log),
        RegressionLoss::Tweedie { power } => (boost(x, width, y, weight, p, &Tweedie { power }, should_stop)?, Link::Log),
    };
    Ok(BoostedRegressor { base, trees, link })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CrmError;
    use crate::regress::linear;
    use crate::regress::metrics::evaluate;
    use crate::rng::SplitMix64;

    fn predictions(m: &BoostedRegressor, x: &[f64], width: usize) -> Vec<f64> {
        x.chunks(width).map(|r| m.predict(r)).collect()
    }

    #[test]
    fn beats_ridge_on_a_nonlinear_target() {
        // y = sin(3a) + a·b (+ noise): no linear function of a and b comes close
        let sample = |n: usize, seed: u64| {
            let mut rng = SplitMix64::new(seed);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let (a, b) = (rng.next_f64() * 4.0 - 2.0, rng.next_f64() * 4.0 - 2.0);
                x.extend([a, b]);
                y.push((3.0 * a).sin() + a * b + 0.1 * (rng.next_f64() - 0.5));
            }
            (x, y)
        };
        let (x, y) = sample(4000, 1);
        let (xt, yt) = sample(2000, 2);
        let w = vec![1.0; y.len()];
        let trees = fit(&x, 2, &y, &w, &BoostingParams::default(), RegressionLoss::SquaredError, &|| false).unwrap();
        let ridge = linear::fit(&x, 2, &y, &w, 1.0, 0, &|| false).unwrap();
        let boosted = evaluate(&predictions(&trees, &xt, 2), &yt);
        let linear = evaluate(&xt.chunks(2).map(|r| ridge.predict(r)).collect::<Vec<_>>(), &yt);
        assert!(boosted.rmse < 0.5 * linear.rmse, "boosting {} vs ridge {}", boosted.rmse, linear.rmse);
        assert!(boosted.r2 > 0.9, "{boosted:?}");
        assert_eq!(trees.link, Link::Identity);
        // contributions add up to the prediction (identity link)
        for r in xt.chunks(2).take(50) {
            let (base, c) = trees.contributions(r, 2);
            assert!((base + c.iter().sum::<f64>() - trees.predict(r)).abs() < 1e-9);
        }
    }

    /// Counts with many zeros: y ~ Poisson(exp(−1.5 + 1.2a + 0.8·[b > 0.5])).
    fn counts(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b) = (rng.next_f64() * 3.0 - 1.0, rng.next_f64());
            x.extend([a, b]);
            let mu = (-1.5 + 1.2 * a + if b > 0.5 { 0.8 } else { 0.0 }).exp();
            // Knuth's Poisson draw
            let (limit, mut k, mut prod) = ((-mu).exp(), 0.0, rng.next_f64());
            while prod > limit {
                k += 1.0;
                prod *= rng.next_f64();
            }
            y.push(k);
        }
        (x, y)
    }

    #[test]
    fn poisson_beats_squared_error_on_counts() {
        let (x, y) = counts(6000, 3);
        let (xt, yt) = counts(4000, 4);
        assert!(y.iter().filter(|&&v| v == 0.0).count() > y.len() / 3, "many zeros");
        let w = vec![1.0; y.len()];
        let p = BoostingParams { max_iter: 200, small_data_trees: 200, min_samples_leaf: 40, ..Default::default() };
        let poisson = fit(&x, 2, &y, &w, &p, RegressionLoss::Poisson, &|| false).unwrap();
        let squared = fit(&x, 2, &y, &w, &p, RegressionLoss::SquaredError, &|| false).unwrap();
        let tweedie = fit(&x, 2, &y, &w, &p, RegressionLoss::Tweedie { power: 1.3 }, &|| false).unwrap();
        assert_eq!((poisson.link, tweedie.link), (Link::Log, Link::Log));
        let pp = predictions(&poisson, &xt, 2);
        assert!(pp.iter().all(|&v| v > 0.0), "a log link predicts positive values");
        let dp = evaluate(&pp, &yt).poisson_deviance.unwrap();
        // squared error may predict 0 or below on a leaf of zeros: floor it so the deviance exists
        let ds = evaluate(&predictions(&squared, &xt, 2).iter().map(|v| v.max(1e-3)).collect::<Vec<_>>(), &yt).poisson_deviance.unwrap();
        let dt = evaluate(&predictions(&tweedie, &xt, 2), &yt).poisson_deviance.unwrap();
        assert!(dp < ds, "poisson {dp} vs squared error {ds}");
        assert!(dt < ds * 1.02, "tweedie {dt} vs squared error {ds}");
        // the base is the log of the mean count; contributions add up on the log scale
        assert!((poisson.base - (y.iter().sum::<f64>() / y.len() as f64).ln()).abs() < 1e-12);
        for r in xt.chunks(2).take(50) {
            for m in [&poisson, &tweedie] {
                let (base, c) = m.contributions(r, 2);
                assert!(((base + c.iter().sum::<f64>()).exp() - m.predict(r)).abs() < 1e-9 * m.predict(r));
            }
        }
    }

    /// The gradient and hessian are the loss's derivatives (central differences).
    fn derivatives_agree<L: Loss>(loss: &L, name: &str) {
        let e = 1e-5;
        for (f, y) in [(0.3, 2.0), (-1.0, 0.0), (1.5, 7.0)] {
            let (g, h) = loss.gradient(f, y);
            let slope = (loss.loss(f + e, y) - loss.loss(f - e, y)) / (2.0 * e);
            let curvature = (loss.gradient(f + e, y).0 - loss.gradient(f - e, y).0) / (2.0 * e);
            assert!((slope - g).abs() < 1e-5 * (1.0 + g.abs()), "{name} at ({f}, {y}): gradient {g}, slope {slope}");
            assert!((curvature - h).abs() < 1e-5 * (1.0 + h.abs()), "{name} at ({f}, {y}): hessian {h}, curvature {curvature}");
        }
    }

    #[test]
    fn gradients_match_the_loss() {
        derivatives_agree(&SquaredError, "squared error");
        derivatives_agree(&Poisson, "poisson");
        derivatives_agree(&Tweedie { power: 1.4 }, "tweedie");
    }

    #[test]
    fn should_stop_cancels() {
        let (x, y) = counts(500, 5);
        let r = fit(&x, 2, &y, &vec![1.0; 500], &BoostingParams::default(), RegressionLoss::Poisson, &|| true);
        assert!(matches!(r, Err(CrmError::Canceled(_))), "{r:?}");
    }
}
