//! Random forest regression (Breiman's, as scikit-learn's RandomForestRegressor): the
//! classifier's forest (`classify::forest::grow_forest`: bootstrap samples, histogram
//! trees grown deep on worker threads, each seeded by its index) on a real target. With
//! `h` = bootstrap weight, `g = −y·h` and no regularisation a node's value is the weighted
//! mean of `y` and a split's gain the weighted reduction of squared error, so the trees
//! are regression trees; the prediction is the mean of the trees' leaf values.

use serde::{Deserialize, Serialize};

use crate::classify::forest::{grow_forest, ForestParams};
use crate::classify::tree::Tree;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestRegressor {
    /// Node values are weighted means of the target over the tree's (bootstrap) rows.
    pub trees: Vec<Tree>,
}

impl ForestRegressor {
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.leaf(x).value).sum::<f64>() / self.trees.len() as f64
    }

    /// (base, contributions per encoded column) adding up to `predict(x)`: per tree the
    /// Saabas path contributions (root value + changes along the path = the leaf's value),
    /// averaged over trees, so the base is the mean root value (the bootstrap means of the
    /// target).
    pub fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        let mut out = vec![0.0; width];
        let k = self.trees.len() as f64;
        let base = self.trees.iter().map(|t| t.path_contributions(x, &mut out)).sum::<f64>() / k;
        out.iter_mut().for_each(|c| *c /= k);
        (base, out)
    }
}

/// Fits on a row-major matrix `x` (n × width), targets `y` and sample weights; threads,
/// seeds and cancellation as `classify::forest::fit`.
pub fn fit(x: &[f64], width: usize, y: &[f64], weight: &[f64], p: &ForestParams, should_stop: &dyn Fn() -> bool) -> Result<ForestRegressor> {
    // No purity stop: it assumes 0/1 labels; a node of equal targets has no gain anyway.
    Ok(ForestRegressor { trees: grow_forest(x, width, y, weight, p, false, should_stop)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::forest::MaxFeatures;
    use crate::error::CrmError;
    use crate::regress::linear;
    use crate::regress::metrics::evaluate;
    use crate::rng::SplitMix64;

    /// y = 10 where (a > 0.5) == (b > 0.5), else 0, plus noise and a noise column.
    fn interaction(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b, c) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
            x.extend([a, b, c]);
            y.push(if (a > 0.5) == (b > 0.5) { 10.0 } else { 0.0 } + rng.next_f64() - 0.5);
        }
        (x, y)
    }

    fn params(n_trees: usize) -> ForestParams {
        ForestParams { n_trees, max_features: MaxFeatures::Fraction(1.0), min_samples_leaf: 5, ..Default::default() }
    }

    #[test]
    fn learns_an_interaction_ridge_cannot() {
        let (x, y) = interaction(3000, 1);
        let (xt, yt) = interaction(2000, 2);
        let w = vec![1.0; y.len()];
        let forest = fit(&x, 3, &y, &w, &params(30), &|| false).unwrap();
        let ridge = linear::fit(&x, 3, &y, &w, 1.0, 0, &|| false).unwrap();
        let f = evaluate(&xt.chunks(3).map(|r| forest.predict(r)).collect::<Vec<_>>(), &yt);
        let l = evaluate(&xt.chunks(3).map(|r| ridge.predict(r)).collect::<Vec<_>>(), &yt);
        assert!(f.r2 > 0.9 && l.r2 < 0.1, "forest {f:?}, ridge {l:?}");
        // values are means of targets: inside their range
        assert!(xt.chunks(3).all(|r| (-0.5..=10.5).contains(&forest.predict(r))));
        // contributions add up to the prediction and fall on the interacting columns
        let (mut signal, mut noise) = (0.0, 0.0);
        for r in xt.chunks(3).take(200) {
            let (base, c) = forest.contributions(r, 3);
            assert!((base + c.iter().sum::<f64>() - forest.predict(r)).abs() < 1e-9);
            assert!((base - 5.0).abs() < 0.5, "base {base}: the mean target");
            signal += c[0].abs() + c[1].abs();
            noise += c[2].abs();
        }
        assert!(signal > 5.0 * noise, "{signal} vs {noise}");
    }

    #[test]
    fn a_seed_gives_one_forest_whatever_the_threads() {
        let (x, y) = interaction(800, 3);
        let w = vec![1.0; y.len()];
        let p = ForestParams { seed: 9, ..params(6) };
        let a = fit(&x, 3, &y, &w, &ForestParams { threads: 1, ..p.clone() }, &|| false).unwrap();
        let b = fit(&x, 3, &y, &w, &ForestParams { threads: 3, ..p.clone() }, &|| false).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, fit(&x, 3, &y, &w, &ForestParams { seed: 10, ..p }, &|| false).unwrap());
        assert!(matches!(fit(&x, 3, &y, &w, &params(6), &|| true), Err(CrmError::Canceled(_))));
    }
}
