//! Random forest for a binary target (Breiman's, as scikit-learn's
//! RandomForestClassifier, on histogram-binned features like LightGBM's `rf` mode): each
//! tree is grown deep on a bootstrap sample of the training rows, every split choosing
//! among `max_features` columns drawn at random; the probability is the mean over trees
//! of the leaf's (weighted) positive fraction.
//!
//! Written here on the histogram tree code of gradient boosting (`tree.rs`): splits by the
//! Gini criterion (with `h = w·c` — sample weight times bootstrap count —, `g = −y·h`
//! and no regularisation the histogram gain is the weighted variance reduction of the
//! 0/1 label, which for two classes is exactly half the weighted Gini decrease, so the
//! chosen splits are the same), node values are weighted positive fractions. Not a crate:
//! smartcore's forest, which the design first named, is slow (exact, unbinned trees on
//! one thread) and takes no sample weights, so no `class_weight = 'balanced'`;
//! linfa-ensemble's forest would bring ndarray, rand and linfa-trees' own exact trees.
//! Here the 255-bin histograms cost O(rows) per column and node instead of sorting, the
//! binning is done once for all trees, trees are grown on worker threads, and scoring and
//! explanations share the boosting trees' code and stored node format.

use serde::{Deserialize, Serialize};

use super::tree::{grow_tree, Binned, GrowParams, Tree};
use crate::error::{CrmError, Result};
use crate::pool::{self, Cancelled};
use crate::rng::SplitMix64;

/// Probabilities are clipped to [P_MIN, 1 − P_MIN] before the logit.
pub const P_MIN: f64 = 1e-6;

/// Columns tried per split, of the encoded width `d` (scikit-learn's `max_features`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    /// ⌊√d⌋ (at least 1), scikit-learn's default for classifiers.
    Sqrt,
    /// ⌊log₂ d⌋ (at least 1).
    Log2,
    Count(usize),
    /// ⌊f·d⌋ (at least 1), f in (0, 1].
    Fraction(f64),
}

impl MaxFeatures {
    pub fn resolve(self, width: usize) -> usize {
        let d = width as f64;
        let k = match self {
            MaxFeatures::Sqrt => d.sqrt() as usize,
            MaxFeatures::Log2 => d.log2().max(0.0) as usize,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f * d) as usize,
        };
        k.clamp(1, width.max(1))
    }

    /// As the option is written: "sqrt", "log2", an integer or a fraction.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            MaxFeatures::Sqrt => "sqrt".into(),
            MaxFeatures::Log2 => "log2".into(),
            MaxFeatures::Count(k) => k.into(),
            MaxFeatures::Fraction(f) => f.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    pub n_trees: usize,
    pub max_features: MaxFeatures,
    /// None: unlimited.
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    pub max_leaves: usize,
    /// Each tree on a bootstrap sample (n draws with replacement); false: on every row.
    pub bootstrap: bool,
    pub max_bins: usize,
    pub seed: u64,
    /// Worker threads; 0: as many as `pool::max_threads` allows.
    pub threads: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_features: MaxFeatures::Sqrt,
            max_depth: None,
            min_samples_leaf: 1,
            // Bounds a tree at 8,191 nodes (about 200 KB), so 100 trees stay ~20 MB in the
            // registry whatever the table size; below ~4,000 training rows it never binds.
            max_leaves: 4096,
            bootstrap: true,
            max_bins: 255,
            seed: 42,
            threads: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    /// Node values are weighted positive fractions of the tree's (bootstrap) rows.
    pub trees: Vec<Tree>,
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(P_MIN, 1.0 - P_MIN);
    (p / (1.0 - p)).ln()
}

impl RandomForest {
    /// Mean over trees of the leaf's positive fraction.
    pub fn probability(&self, x: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.leaf(x).value).sum::<f64>() / self.trees.len() as f64
    }

    /// logit of the probability clipped to [1e-6, 1 − 1e-6]: `sigmoid` of it gives the
    /// probability back (for probabilities inside that range).
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        logit(self.probability(x))
    }

    /// (base, contributions per encoded column) in log-odds, adding up to `log_odds(x)`.
    ///
    /// 1. Per tree, Saabas path contributions in probability units: at each split on the
    ///    row's path the change of node value (positive fraction) goes to the split's
    ///    column; root value + contributions = the leaf's value.
    /// 2. Averaged over trees: `p₀` (mean root value, the bootstrap base rate) plus the
    ///    mean contributions `cⱼ` equals the forest's probability `p`.
    /// 3. To log-odds: base = logit(p₀), and every `cⱼ` multiplied by the one factor
    ///    `s = (logit(p) − logit(p₀)) / Σcⱼ` (both logits clipped as `log_odds`), so
    ///    base + Σ s·cⱼ = logit(p) exactly (up to rounding); when |Σcⱼ| < 1e-12 the factor is
    ///    the logit's slope at p₀, 1/(p₀(1 − p₀)). s > 0: signs and proportions are those
    ///    of the probability contributions.
    pub fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        let mut out = vec![0.0; width];
        let k = self.trees.len() as f64;
        let root = self.trees.iter().map(|t| t.path_contributions(x, &mut out)).sum::<f64>() / k;
        out.iter_mut().for_each(|c| *c /= k);
        let base = logit(root);
        let total: f64 = out.iter().sum();
        let s = if total.abs() >= 1e-12 {
            (self.log_odds(x) - base) / total
        } else {
            let r = root.clamp(P_MIN, 1.0 - P_MIN);
            1.0 / (r * (1.0 - r))
        };
        out.iter_mut().for_each(|c| *c *= s);
        (base, out)
    }
}

/// Seed of tree `t`: independent of the thread count, so a seed gives one forest.
fn tree_seed(seed: u64, t: usize) -> u64 {
    SplitMix64::new(seed ^ (t as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// One tree: its bootstrap sample, the gradients `g = −y·h`, `h` = weight × bootstrap
/// count (node values: weighted means of `y`; for 0/1 labels the Gini splits), then growth.
fn one_tree(data: &Binned, y: &[f64], weight: &[f64], p: &ForestParams, grow: &GrowParams, t: usize) -> Tree {
    let n = y.len();
    let mut rng = SplitMix64::new(tree_seed(p.seed, t));
    let h: Vec<f64> = if p.bootstrap {
        let mut counts = vec![0u32; n];
        for _ in 0..n {
            counts[rng.below_modulo(n)] += 1;
        }
        counts.iter().zip(weight).map(|(&c, &w)| c as f64 * w).collect()
    } else {
        weight.to_vec()
    };
    // zero-weight rows (out of bag) stay out of the tree: they would count as rows
    let rows: Vec<u32> = (0..n as u32).filter(|&i| h[i as usize] > 0.0).collect();
    // g = −y·h exactly (for 0/1 labels `stop_pure` relies on it)
    let g: Vec<f64> = y.iter().zip(&h).map(|(&y, &h)| -(y * h)).collect();
    grow_tree(data, rows, &g, &h, grow, rng.next_u64())
}

/// Fits on a row-major matrix `x` (n × width), labels 0/1 and sample weights. Trees are
/// grown on up to `p.threads` threads of the pool (each tree seeded by its index, so the
/// forest does not depend on the threads); `should_stop` is polled on this thread between
/// trees and while it waits, and when it answers true the fit ends with
/// `CrmError::Canceled` once the trees being grown are done.
pub fn fit(x: &[f64], width: usize, y: &[f64], weight: &[f64], p: &ForestParams, should_stop: &dyn Fn() -> bool) -> Result<RandomForest> {
    // A node whose rows all hold one class cannot gain from a split: stop there.
    Ok(RandomForest { trees: grow_forest(x, width, y, weight, p, true, should_stop)? })
}

/// The forest's trees on a real target `y` (0/1 labels for the classifier, any finite
/// value for the regressor): each tree's node values are weighted means of `y` over its
/// bootstrap rows, its splits the largest weighted variance reductions. `stop_pure`
/// (never split a node of one class) is only valid for 0/1 labels. Threads, seeds and
/// cancellation as `fit`.
pub fn grow_forest(x: &[f64], width: usize, y: &[f64], weight: &[f64], p: &ForestParams, stop_pure: bool, should_stop: &dyn Fn() -> bool) -> Result<Vec<Tree>> {
    let n = y.len();
    if n < 2 || p.n_trees == 0 {
        return Err(CrmError::InvalidArgument("random forest needs at least 2 rows and 1 tree".into()));
    }
    if should_stop() {
        return Err(Cancelled.into());
    }
    let data = Binned::new(x, width, n, p.max_bins);
    let grow = GrowParams {
        max_leaves: p.max_leaves.max(2),
        max_depth: p.max_depth.unwrap_or(usize::MAX),
        min_samples_leaf: p.min_samples_leaf.max(1),
        l2: 0.0,
        scale: 1.0,
        max_features: p.max_features.resolve(width),
        stop_pure,
    };
    Ok(pool::map_ranges(p.n_trees, 1, p.threads, should_stop, |t, _| one_tree(&data, y, weight, p, &grow, t.start))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::logistic::{self, sigmoid, LogisticParams};
    use crate::classify::metrics::roc_auc;

    /// y = (a > 0.5) XOR (b > 0.5), 10 % of labels flipped, plus a noise column.
    fn xor(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b, c) = (rng.below_modulo(1000) as f64 / 1000.0, rng.below_modulo(1000) as f64 / 1000.0, rng.below_modulo(1000) as f64 / 1000.0);
            x.extend([a, b, c]);
            let xor = (a > 0.5) != (b > 0.5);
            y.push(if rng.below_modulo(10) == 0 { !xor } else { xor } as u8 as f64);
        }
        (x, y)
    }

    fn auc(p: impl Fn(&[f64]) -> f64, x: &[f64], y: &[f64]) -> f64 {
        let scores: Vec<f64> = x.chunks(3).map(p).collect();
        roc_auc(&scores, &y.iter().map(|&v| v > 0.5).collect::<Vec<_>>())
    }

    #[test]
    fn learns_xor_better_than_logistic() {
        let (x, y) = xor(3000, 1);
        let (xt, yt) = xor(2000, 2);
        let w = vec![1.0; y.len()];
        let forest = fit(&x, 3, &y, &w, &ForestParams { n_trees: 50, ..Default::default() }, &|| false).unwrap();
        let linear = logistic::fit(&x, 3, &y, &w, &LogisticParams::default(), &|| false).unwrap();
        let (forest_auc, linear_auc) = (auc(|r| forest.probability(r), &xt, &yt), auc(|r| linear.log_odds(r), &xt, &yt));
        assert!(forest_auc > 0.8 && linear_auc < 0.6, "forest {forest_auc}, logistic {linear_auc}");
        // probabilities are in [0, 1], and sigmoid(log_odds) gives them back
        for r in xt.chunks(3) {
            let p = forest.probability(r);
            assert!((0.0..=1.0).contains(&p));
            assert!((sigmoid(forest.log_odds(r)) - p.clamp(P_MIN, 1.0 - P_MIN)).abs() < 1e-12);
        }
    }

    #[test]
    fn a_seed_gives_one_forest_whatever_the_threads() {
        let (x, y) = xor(800, 3);
        let w = vec![1.0; y.len()];
        let p = ForestParams { n_trees: 7, seed: 9, ..Default::default() };
        let a = fit(&x, 3, &y, &w, &ForestParams { threads: 1, ..p.clone() }, &|| false).unwrap();
        let b = fit(&x, 3, &y, &w, &ForestParams { threads: 3, ..p.clone() }, &|| false).unwrap();
        assert_eq!(a, b);
        let c = fit(&x, 3, &y, &w, &ForestParams { seed: 10, ..p }, &|| false).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn options_shape_the_trees() {
        let (x, y) = xor(1000, 4);
        let w = vec![1.0; y.len()];
        let depth = |t: &Tree| {
            fn d(t: &Tree, i: usize) -> usize {
                let n = &t.nodes[i];
                if n.left == 0 {
                    0
                } else {
                    1 + d(t, n.left as usize).max(d(t, n.right as usize))
                }
            }
            d(t, 0)
        };
        let shallow = fit(&x, 3, &y, &w, &ForestParams { n_trees: 4, max_depth: Some(3), ..Default::default() }, &|| false).unwrap();
        assert!(shallow.trees.iter().all(|t| depth(t) <= 3));
        let few = fit(&x, 3, &y, &w, &ForestParams { n_trees: 4, max_leaves: 5, ..Default::default() }, &|| false).unwrap();
        assert!(few.trees.iter().all(|t| t.nodes.iter().filter(|n| n.left == 0).count() <= 5));
        // deep trees without bootstrap on all columns fit the training rows exactly
        let full = ForestParams { n_trees: 2, bootstrap: false, max_features: MaxFeatures::Fraction(1.0), ..Default::default() };
        let (xs, ys) = xor(200, 8); // fewer distinct values than bins
        let exact = fit(&xs, 3, &ys, &vec![1.0; 200], &full, &|| false).unwrap();
        let wrong = xs.chunks(3).zip(&ys).filter(|(r, &t)| (exact.probability(r) - t).abs() > 1e-9).count();
        assert_eq!(wrong, 0, "{wrong} training rows not fitted");
        assert_eq!(exact.trees[0], exact.trees[1]);
        // leaves hold at least min_samples_leaf rows
        let big = fit(&x, 3, &y, &w, &ForestParams { n_trees: 1, bootstrap: false, min_samples_leaf: 50, ..Default::default() }, &|| false).unwrap();
        for leaf in big.trees[0].nodes.iter().filter(|n| n.left == 0) {
            let rows = x.chunks(3).filter(|r| std::ptr::eq(big.trees[0].leaf(r), leaf)).count();
            assert!(rows >= 50, "a leaf of {rows} rows");
        }
    }

    #[test]
    fn contributions_add_up_to_the_log_odds() {
        let (x, y) = xor(1500, 5);
        let forest = fit(&x, 3, &y, &vec![1.0; y.len()], &ForestParams { n_trees: 20, ..Default::default() }, &|| false).unwrap();
        let (mut signal, mut noise) = (0.0, 0.0);
        for r in x.chunks(3).take(200) {
            let (base, c) = forest.contributions(r, 3);
            assert!((base + c.iter().sum::<f64>() - forest.log_odds(r)).abs() < 1e-9);
            assert!((sigmoid(base) - 0.5).abs() < 0.1, "base rate {}", sigmoid(base));
            signal += c[0].abs() + c[1].abs();
            noise += c[2].abs();
        }
        assert!(signal > 3.0 * noise, "the XOR columns carry the contributions: {signal} vs {noise}");
        // a row predicted at exactly the base rate still adds up
        let stump = RandomForest { trees: vec![Tree { nodes: vec![super::super::tree::Node { feature: 0, threshold: 0.0, left: 0, right: 0, value: 0.3 }] }] };
        let (base, c) = stump.contributions(&[1.0, 2.0, 3.0], 3);
        assert!((base - stump.log_odds(&[1.0, 2.0, 3.0])).abs() < 1e-12 && c.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn balanced_class_weight_raises_the_positive_rate() {
        // 5 % positives, weakly predictable from column 0
        let mut rng = SplitMix64::new(6);
        let n = 3000;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let a = rng.below_modulo(1000) as f64 / 1000.0;
            x.extend([a, rng.below_modulo(1000) as f64 / 1000.0, rng.below_modulo(1000) as f64 / 1000.0]);
            y.push((rng.below_modulo(1000) as f64 / 1000.0 < 0.1 * a) as u8 as f64);
        }
        let pos = y.iter().sum::<f64>();
        let balanced: Vec<f64> = y.iter().map(|&t| if t > 0.5 { n as f64 / (2.0 * pos) } else { n as f64 / (2.0 * (n as f64 - pos)) }).collect();
        let p = ForestParams { n_trees: 30, min_samples_leaf: 20, ..Default::default() };
        let plain = fit(&x, 3, &y, &vec![1.0; n], &p, &|| false).unwrap();
        let weighted = fit(&x, 3, &y, &balanced, &p, &|| false).unwrap();
        let mean = |f: &RandomForest| x.chunks(3).map(|r| f.probability(r)).sum::<f64>() / n as f64;
        let flagged = |f: &RandomForest| x.chunks(3).filter(|r| f.probability(r) > 0.5).count();
        assert!(mean(&plain) < 0.1 && mean(&weighted) > 0.2, "{} vs {}", mean(&plain), mean(&weighted));
        assert!(flagged(&weighted) > 5 * flagged(&plain).max(1));
    }

    #[test]
    fn max_features_resolves_as_scikit_learn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(40), 6);
        assert_eq!(MaxFeatures::Log2.resolve(40), 5);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(41), 20);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(41), 1);
        assert_eq!(MaxFeatures::Count(100).resolve(41), 41);
        assert_eq!(MaxFeatures::Sqrt.resolve(1), 1);
    }

    #[test]
    fn should_stop_runs_on_the_calling_thread_and_stops_the_fit() {
        let (x, y) = xor(300, 7);
        let w = vec![1.0; y.len()];
        let caller = std::thread::current().id();
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let count = || {
            assert_eq!(std::thread::current().id(), caller);
            polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        };
        fit(&x, 3, &y, &w, &ForestParams { n_trees: 9, threads: 4, ..Default::default() }, &count).unwrap();
        // Before binning, then before each tree the caller grows and while it waits.
        assert!(polls.into_inner() >= 2);
        let polls = std::cell::Cell::new(0usize);
        let later = || {
            polls.set(polls.get() + 1);
            polls.get() > 3
        };
        let cancelled = fit(&x, 3, &y, &w, &ForestParams { n_trees: 50, threads: 2, ..Default::default() }, &later);
        assert!(matches!(cancelled, Err(CrmError::Canceled(_))), "{cancelled:?}");
        assert_eq!(polls.get(), 4, "no poll after the one that cancelled");
        // A should_stop that unwinds (a Postgres error) stops training after the workers are joined.
        let stop = std::panic::catch_unwind(|| {
            let n = std::sync::atomic::AtomicUsize::new(0);
            fit(&x, 3, &y, &w, &ForestParams { n_trees: 50, threads: 2, ..Default::default() }, &|| {
                if n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 3 {
                    panic!("cancelled");
                }
                false
            })
        });
        assert!(stop.is_err());
    }
}
