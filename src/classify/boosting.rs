//! Histogram gradient-boosted trees for binary log-loss (the algorithm of LightGBM and
//! scikit-learn's HistGradientBoostingClassifier): features binned into at most 255
//! quantile bins, trees grown leaf-wise (best gain first) up to `max_leaves`, Newton leaf
//! values with L2 regularisation, shrinkage, and early stopping on an internal validation
//! slice of the training rows.
//!
//! Written here: the pure-Rust GBDT crates we looked at (gbdt, forust) either lack
//! sample weights and early stopping or pull in heavy dependencies; the algorithm is small.
//! Binning and tree growth live in `tree.rs`, shared with the random forest.
//! Trees work on the encoded feature vector the model already has (standardised numbers,
//! one-hot levels, missing indicators), so scoring and explanations share one path.

use serde::{Deserialize, Serialize};

use super::logistic::sigmoid;
use super::tree::{grow_tree, Binned, GrowParams};
use crate::error::{CrmError, Result};
use crate::pool::Cancelled;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq)]
pub struct BoostingParams {
    pub max_iter: usize,
    pub learning_rate: f64,
    pub max_leaves: usize,
    pub min_samples_leaf: usize,
    pub l2: f64,
    pub max_bins: usize,
    pub early_stopping_rounds: usize,
    pub validation_fraction: f64,
    /// None: as scikit-learn's 'auto', early stopping only from 10,000 rows; below that
    /// every row trains and `small_data_trees` trees are grown.
    pub early_stopping: Option<bool>,
    pub small_data_trees: usize,
    /// Share of the encoded columns each split may choose from (drawn per split, as
    /// LightGBM's feature_fraction_bynode); 1.0 = all.
    pub feature_fraction: f64,
    /// Share of the training rows each tree is grown on (drawn per tree, as LightGBM's
    /// bagging_fraction); 1.0 = all.
    pub subsample: f64,
    pub seed: u64,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            max_iter: 300,
            learning_rate: 0.1,
            max_leaves: 31,
            min_samples_leaf: 20,
            l2: 1.0,
            max_bins: 255,
            early_stopping_rounds: 20,
            validation_fraction: 0.1,
            early_stopping: None,
            small_data_trees: 100,
            feature_fraction: 1.0,
            subsample: 1.0,
            seed: 42,
        }
    }
}

pub use super::tree::{Node, Tree};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostedTrees {
    pub base: f64,
    pub trees: Vec<Tree>,
}

impl BoostedTrees {
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.leaf(x).value).sum::<f64>()
    }

    /// Path contributions (Saabas): along each tree's path, the change of node value at a
    /// split is credited to the split's feature. Per encoded column; with `expected` (the
    /// base plus every root's value) they add up exactly to the log-odds.
    pub fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        path_contributions(self.base, &self.trees, x, width)
    }
}

/// Saabas path contributions of a sum of trees started at `base` (per encoded column),
/// and the expected value (base plus every root's value): together they add up exactly to
/// base + Σ leaf values. Shared by the classifier's and the regressor's boosted trees.
pub fn path_contributions(base: f64, trees: &[Tree], x: &[f64], width: usize) -> (f64, Vec<f64>) {
    let mut out = vec![0.0; width];
    let mut expected = base;
    for tree in trees {
        expected += tree.path_contributions(x, &mut out);
    }
    (expected, out)
}

impl BoostingParams {
    fn grow(&self) -> GrowParams {
        GrowParams {
            max_leaves: self.max_leaves,
            max_depth: usize::MAX,
            min_samples_leaf: self.min_samples_leaf,
            l2: self.l2,
            scale: self.learning_rate,
            max_features: usize::MAX,
            stop_pure: false,
        }
    }
}

/// What boosting minimises, per row (sample weights are applied by the loop): the
/// classifier's log-loss here, the regressor's losses in `regress::boosting`. One loop
/// (`boost`) serves both, so early stopping and tree growth behave the same everywhere.
pub trait Loss {
    /// The constant raw prediction (link scale) the trees start from, fitted on `rows`.
    fn base(&self, y: &[f64], weight: &[f64], rows: &[u32]) -> f64;
    /// (gradient, hessian) of the loss in the raw prediction `f` at target `y`; the
    /// hessian must be positive.
    fn gradient(&self, f: f64, y: f64) -> (f64, f64);
    /// The loss at raw prediction `f` and target `y`: early stopping compares its
    /// weighted sum over the validation slice.
    fn loss(&self, f: f64, y: f64) -> f64;
}

/// Binary log-loss on log-odds, the classifier's.
pub struct LogLoss;

impl Loss for LogLoss {
    fn base(&self, y: &[f64], weight: &[f64], rows: &[u32]) -> f64 {
        let total_w: f64 = rows.iter().map(|&r| weight[r as usize]).sum();
        let rate = (rows.iter().map(|&r| y[r as usize] * weight[r as usize]).sum::<f64>() / total_w).clamp(1e-6, 1.0 - 1e-6);
        (rate / (1.0 - rate)).ln()
    }

    #[inline]
    fn gradient(&self, f: f64, y: f64) -> (f64, f64) {
        let q = sigmoid(f);
        (q - y, (q * (1.0 - q)).max(1e-16))
    }

    #[inline]
    fn loss(&self, f: f64, y: f64) -> f64 {
        let q = sigmoid(f).clamp(1e-15, 1.0 - 1e-15);
        -(y * q.ln() + (1.0 - y) * (1.0 - q).ln())
    }
}

/// Fits on a row-major matrix `x` (n × width), labels 0/1 and sample weights.
/// `should_stop` is polled before each tree; when it answers true the fit ends with
/// `CrmError::Canceled`.
pub fn fit(x: &[f64], width: usize, y: &[f64], weight: &[f64], p: &BoostingParams, should_stop: &dyn Fn() -> bool) -> Result<BoostedTrees> {
    let (base, trees) = boost(x, width, y, weight, p, &LogLoss, should_stop)?;
    Ok(BoostedTrees { base, trees })
}

/// The boosting loop for any `Loss`: (base, trees), the raw prediction of a row being
/// base + Σ its leaves' values. An internal validation slice (drawn with `p.seed`) stops
/// the loop once its loss has not improved for `early_stopping_rounds` trees, and the
/// trees past its best are dropped. `should_stop` is polled before each tree; when it
/// answers true the fit ends with `CrmError::Canceled`.
pub fn boost<L: Loss>(
    x: &[f64],
    width: usize,
    y: &[f64],
    weight: &[f64],
    p: &BoostingParams,
    loss: &L,
    should_stop: &dyn Fn() -> bool,
) -> Result<(f64, Vec<Tree>)> {
    let n = y.len();
    if n < 2 * p.min_samples_leaf {
        return Err(CrmError::InvalidArgument(format!("gradient boosting needs at least {} rows", 2 * p.min_samples_leaf)));
    }
    // Internal validation slice for early stopping.
    let early = p.early_stopping.unwrap_or(n >= 10_000);
    let max_iter = if early || p.early_stopping.is_some() { p.max_iter } else { p.max_iter.min(p.small_data_trees) };
    let mut rng = SplitMix64::new(p.seed);
    let is_validation: Vec<bool> = (0..n).map(|_| early && (rng.next_u64() as f64 / u64::MAX as f64) < p.validation_fraction).collect();
    let train_rows: Vec<u32> = (0..n as u32).filter(|&i| !is_validation[i as usize]).collect();
    let valid_rows: Vec<u32> = (0..n as u32).filter(|&i| is_validation[i as usize]).collect();
    let base = loss.base(y, weight, &train_rows);
    let data = Binned::new(x, width, n, p.max_bins);
    let mut grow = p.grow();
    let sample_columns = p.feature_fraction < 1.0;
    if sample_columns {
        grow.max_features = ((p.feature_fraction * width as f64).ceil() as usize).clamp(1, width.max(1));
    }
    // Column and row draws have a stream of their own: without them the trees are
    // exactly those grown before these options existed.
    let mut sampling = SplitMix64::new(p.seed ^ 0x5EED_5A3B_1E5C_0FF5);
    let mut f = vec![base; n];
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    let mut trees: Vec<Tree> = Vec::new();
    let (mut best_loss, mut best_len) = (f64::INFINITY, 0);
    let valid_loss = |f: &[f64]| valid_rows.iter().map(|&r| loss.loss(f[r as usize], y[r as usize]) * weight[r as usize]).sum::<f64>();
    for _ in 0..max_iter {
        if should_stop() {
            return Err(Cancelled.into());
        }
        for i in 0..n {
            let (gi, hi) = loss.gradient(f[i], y[i]);
            g[i] = gi * weight[i];
            h[i] = hi * weight[i];
        }
        let rows = if p.subsample < 1.0 {
            let kept: Vec<u32> = train_rows.iter().copied().filter(|_| sampling.next_f64() < p.subsample).collect();
            if kept.len() >= 2 * p.min_samples_leaf {
                kept
            } else {
                train_rows.clone()
            }
        } else {
            train_rows.clone()
        };
        let tree_seed = if sample_columns { sampling.next_u64() } else { 0 };
        let tree = grow_tree(&data, rows, &g, &h, &grow, tree_seed);
        if tree.nodes.len() == 1 && tree.nodes[0].value.abs() < 1e-12 {
            break;
        }
        for i in 0..n {
            f[i] += tree.leaf(&x[i * width..(i + 1) * width]).value;
        }
        trees.push(tree);
        if !valid_rows.is_empty() {
            let loss = valid_loss(&f);
            if loss < best_loss - 1e-9 {
                best_loss = loss;
                best_len = trees.len();
            } else if trees.len() - best_len >= p.early_stopping_rounds {
                break;
            }
        } else {
            best_len = trees.len();
        }
    }
    trees.truncate(best_len.max(1));
    Ok((base, trees))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_an_interaction_logistic_cannot() {
        // y = x1 XOR x2 (with noise): linear models get AUC 0.5, trees should not.
        let mut rng = SplitMix64::new(5);
        let n = 4000;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let (a, b) = (rng.below_modulo(1000) as f64 / 1000.0, rng.below_modulo(1000) as f64 / 1000.0);
            x.extend([a, b]);
            let xor = (a > 0.5) != (b > 0.5);
            y.push(if rng.below_modulo(10) == 0 { !xor } else { xor } as u8 as f64);
        }
        let m = fit(&x, 2, &y, &vec![1.0; n], &BoostingParams::default(), &|| false).unwrap();
        let correct = (0..n).filter(|&i| (sigmoid(m.log_odds(&x[i * 2..i * 2 + 2])) > 0.5) == (y[i] > 0.5)).count();
        assert!(correct as f64 / n as f64 > 0.85, "accuracy {}", correct as f64 / n as f64);
        // contributions add up to the log-odds
        let row = &x[0..2];
        let (expected, c) = m.contributions(row, 2);
        assert!((expected + c.iter().sum::<f64>() - m.log_odds(row)).abs() < 1e-9);
    }
}
