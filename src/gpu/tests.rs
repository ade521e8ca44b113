//! The CPU reference executor (the kernels of `kernels.cu`, compiled by the host C
//! compiler) against the Rust scoring code, on random models and on models trained by the
//! crate's own trainers on synthetic data.
//!
//! What "the same" means, per kernel:
//! - scores (linear, trees, segment distances): within 1e-6 relative (NaN matches NaN);
//!   in practice the executor gives the Rust path's bits, since it sums in the same order
//!   and calls the same libm;
//! - segments: identical, ties to the lower centre index (duplicate centres are in the
//!   random models);
//! - ALS top-k: the Rust path scores in f32 (vector lanes, FMA where the CPU has it), the
//!   kernel in double rounded once to f32; both are within the f32 error bound
//!   `tol = (f + 2)·ε_f32·max_j Σ_l |u_l·v_jl|` of the exact score. So lists have the same
//!   length, rank by rank the scores agree within `tol`, and an item in one list but not
//!   the other must be a near-tie at the boundary: its Rust score within 2·tol of the
//!   Rust list's last. Exact ties (equal f32 scores) go to the lower item in both, checked
//!   exactly against `recommend::TopK` with the kernel's own scores.
//!
//! Every comparison is also run on a deliberately perturbed model, where it must fail.

use super::cpu_executor::{self, Grid};
use super::kernels::{Link, MemberKind};
use super::layout::{AlsBatch, Batch, FlatTrees, KernelModel, Order, Segments};
use super::selftest::{random_rows, random_tree};
use crate::classify::boosting::{self, BoostedTrees, BoostingParams};
use crate::classify::features::{RawColumn, ValueKind};
use crate::classify::forest::{self, ForestParams, RandomForest};
use crate::classify::logistic::{self, sigmoid, LogisticModel, LogisticParams};
use crate::classify::model::{Classifier, Predictor};
use crate::classify::options::TrainOptions;
use crate::classify::tree::{Node, Tree};
use crate::regress::model::RegressionPredictor;
use crate::rng::SplitMix64;

/// Launch shapes every kernel is run with: one thread, odd sizes (partial blocks, several
/// rows per thread), and a GPU-like grid with idle threads.
const GRIDS: [Grid; 3] = [Grid { blocks: 1, threads: 1 }, Grid { blocks: 3, threads: 7 }, Grid { blocks: 64, threads: 128 }];

fn close(executor: f64, rust: f64) -> bool {
    executor == rust || (executor.is_nan() && rust.is_nan()) || (executor - rust).abs() <= 1e-6 * rust.abs()
}

/// The first row whose scores differ beyond 1e-6 relative, if any.
pub(super) fn compare_scores(what: &str, executor: &[f64], rust: &[f64]) -> Result<(), String> {
    if executor.len() != rust.len() {
        return Err(format!("{what}: {} scores from the executor, {} from Rust", executor.len(), rust.len()));
    }
    match executor.iter().zip(rust).position(|(&e, &r)| !close(e, r)) {
        None => Ok(()),
        Some(i) => Err(format!("{what}: row {i}: executor {:e}, Rust {:e}", executor[i], rust[i])),
    }
}

/// Runs `launch` on every grid: the results must be the same bits whatever the grid.
fn on_every_grid<T: PartialEq + std::fmt::Debug>(launch: impl Fn(Grid) -> T) -> T {
    let first = launch(GRIDS[0]);
    for grid in &GRIDS[1..] {
        assert_eq!(launch(*grid), first, "a different result on {grid:?}");
    }
    first
}

/// Scores of `model` over row-major `x` on every grid, in both layouts (same bits).
fn executor_scores(model: &KernelModel, x: &[f64], rows: usize, width: usize, link: Link) -> Vec<f64> {
    let row_major = Batch::new(x, rows, width, Order::RowMajor).unwrap();
    let scores = on_every_grid(|grid| cpu_executor::score(grid, &row_major, model, link).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    let transposed: Vec<f64> = (0..width).flat_map(|j| (0..rows).map(move |i| x[i * width + j])).collect();
    let column_major = Batch::new(&transposed, rows, width, Order::ColumnMajor).unwrap();
    let by_columns: Vec<u64> = cpu_executor::score(GRIDS[2], &column_major, model, link).unwrap().iter().map(|v| v.to_bits()).collect();
    assert_eq!(scores, by_columns, "row-major and column-major batches score differently");
    scores.into_iter().map(f64::from_bits).collect()
}

pub(super) fn rust_scores(x: &[f64], width: usize, score: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    x.chunks_exact(width).map(score).collect()
}

/// A classifier around `predictor` (scoring encoded rows reads only the predictor).
fn classifier(predictor: Predictor) -> Classifier {
    Classifier { features: crate::classify::features::FeatureSet::new(Vec::new()), predictor, positive_class: "yes".into() }
}

/// n rows of 5 columns and a 0/1 label depending on them non-linearly (with noise).
fn synthetic_classification(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = SplitMix64::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let row: Vec<f64> = (0..5).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
        let z = row[0] * row[1] - row[2] + 0.5 * (row[3] > 0.3) as u8 as f64;
        y.push((rng.next_f64() < sigmoid(2.0 * z)) as u8 as f64);
        x.extend(row);
    }
    (x, y)
}

#[test]
fn linear_models_match_logistic_and_ridge_scoring() {
    let mut rng = SplitMix64::new(1);
    // random models, widths around the four-lane and tail boundaries
    for width in [1, 3, 4, 7, 17, 40] {
        let model = LogisticModel { weights: (0..width).map(|_| rng.next_f64() * 4.0 - 2.0).collect(), intercept: rng.next_f64() - 0.5 };
        let x = random_rows(&mut rng, 301, width);
        let kernel = KernelModel::Linear { weights: model.weights.clone(), intercept: model.intercept };
        compare_scores("random logistic, log-odds", &executor_scores(&kernel, &x, 301, width, Link::Identity), &rust_scores(&x, width, |r| model.log_odds(r)))
            .unwrap();
        compare_scores(
            "random logistic, probability",
            &executor_scores(&kernel, &x, 301, width, Link::Sigmoid),
            &rust_scores(&x, width, |r| sigmoid(model.log_odds(r))),
        )
        .unwrap();
    }
    // trained: logistic regression and ridge on the same synthetic rows
    let (x, y) = synthetic_classification(2000, 2);
    let w = vec![1.0; y.len()];
    let trained = logistic::fit(&x, 5, &y, &w, &LogisticParams::default(), &|| false).unwrap();
    let predictor = Predictor::Logistic(trained.clone());
    let kernel = KernelModel::from_classifier(&predictor, 5).unwrap();
    let probabilities = rust_scores(&x, 5, |r| sigmoid(trained.log_odds(r)));
    compare_scores("trained logistic", &executor_scores(&kernel, &x, 2000, 5, Link::Sigmoid), &probabilities).unwrap();
    let ridge = crate::regress::linear::fit(&x, 5, &y, &w, 1.0, 1, &|| false).unwrap();
    let (kernel, link) = KernelModel::from_regressor(&RegressionPredictor::Ridge(ridge.clone()), 5).unwrap();
    compare_scores("trained ridge", &executor_scores(&kernel, &x, 2000, 5, link), &rust_scores(&x, 5, |r| ridge.predict(r))).unwrap();
    // a weight off by 1e-4 shows
    let mut perturbed = trained.clone();
    perturbed.weights[2] += 1e-4;
    let kernel = KernelModel::from_classifier(&Predictor::Logistic(perturbed), 5).unwrap();
    assert!(compare_scores("perturbed logistic", &executor_scores(&kernel, &x, 2000, 5, Link::Sigmoid), &probabilities).is_err());
    // a model for other rows is refused, not read out of bounds
    assert!(KernelModel::from_classifier(&predictor, 6).is_err());
    let short = Batch::new(&x[..20], 4, 5, Order::RowMajor).unwrap();
    assert!(cpu_executor::linear_score(GRIDS[0], &short, &[1.0; 4], 0.0, Link::Identity).is_err());
    assert!(Batch::new(&x[..21], 4, 5, Order::RowMajor).is_err());
    assert!(cpu_executor::linear_score(Grid { blocks: 0, threads: 32 }, &short, &[1.0; 5], 0.0, Link::Identity).is_err());
}

#[test]
fn tree_ensembles_match_random_boosting_forest_and_ensemble_models() {
    let mut rng = SplitMix64::new(3);
    for (width, max_nodes) in [(1, 3), (3, 15), (8, 63)] {
        let trees = |rng: &mut SplitMix64, n: usize| (0..n).map(|_| random_tree(rng, width, max_nodes)).collect::<Vec<_>>();
        let boosted = BoostedTrees { base: rng.next_f64() - 0.5, trees: trees(&mut rng, 9) };
        // forest leaves are probabilities; some at 0 and 1 exercise the logit's clipping
        let mut forest = RandomForest { trees: trees(&mut rng, 7) };
        for node in forest.trees.iter_mut().flat_map(|t| t.nodes.iter_mut()) {
            node.value = [0.0, 1.0, rng.next_f64()][rng.below_modulo(3)];
        }
        let x = random_rows(&mut rng, 400, width);
        for predictor in [
            Predictor::Boosting(boosted.clone()),
            Predictor::Forest(forest.clone()),
            Predictor::Ensemble(vec![Predictor::Boosting(boosted.clone()), Predictor::Forest(forest.clone())]),
        ] {
            let model = classifier(predictor);
            let kernel = KernelModel::from_classifier(&model.predictor, width).unwrap();
            let log_odds = rust_scores(&x, width, |r| model.log_odds_encoded(r));
            compare_scores("random trees, log-odds", &executor_scores(&kernel, &x, 400, width, Link::Identity), &log_odds).unwrap();
            let probabilities: Vec<f64> = log_odds.iter().map(|&z| sigmoid(z)).collect();
            compare_scores("random trees, probability", &executor_scores(&kernel, &x, 400, width, Link::Sigmoid), &probabilities).unwrap();
        }
    }
}

#[test]
fn a_value_equal_to_the_threshold_or_missing_goes_right() {
    // Tree::leaf: `x < threshold` goes left; equal and NaN go right.
    let tree = Tree {
        nodes: vec![
            Node { feature: 1, threshold: 0.5, left: 1, right: 2, value: 0.0 },
            Node { feature: 0, threshold: 0.0, left: 0, right: 0, value: -1.0 },
            Node { feature: 0, threshold: 0.0, left: 0, right: 0, value: 1.0 },
        ],
    };
    let model = BoostedTrees { base: 0.25, trees: vec![tree] };
    let x = [9.0, 0.4999999999999999, 9.0, 0.5, 9.0, f64::NAN, 9.0, f64::NEG_INFINITY];
    let kernel = KernelModel::from_classifier(&Predictor::Boosting(model.clone()), 2).unwrap();
    let scores = executor_scores(&kernel, &x, 4, 2, Link::Identity);
    assert_eq!(scores, [-0.75, 1.25, 1.25, -0.75]);
    assert_eq!(scores, rust_scores(&x, 2, |r| model.log_odds(r)));
}

#[test]
fn trained_tree_models_match_their_scoring() {
    let (x, y) = synthetic_classification(3000, 4);
    let w = vec![1.0; y.len()];
    let boosted = boosting::fit(&x, 5, &y, &w, &BoostingParams { max_iter: 60, small_data_trees: 60, ..Default::default() }, &|| false).unwrap();
    let forest = forest::fit(&x, 5, &y, &w, &ForestParams { n_trees: 20, threads: 1, ..Default::default() }, &|| false).unwrap();
    assert!(boosted.trees.len() > 10 && forest.trees.iter().all(|t| t.nodes.len() > 50), "real, deep models");
    // scored on fresh rows with some missing values (NaN goes right, as in Rust)
    let mut rng = SplitMix64::new(5);
    let (mut fresh, _) = synthetic_classification(2000, 6);
    fresh.iter_mut().for_each(|v| {
        if rng.below_modulo(50) == 0 {
            *v = f64::NAN
        }
    });
    let boosted_kernel = KernelModel::from_classifier(&Predictor::Boosting(boosted.clone()), 5).unwrap();
    let boosted_odds = rust_scores(&fresh, 5, |r| boosted.log_odds(r));
    compare_scores("trained boosting", &executor_scores(&boosted_kernel, &fresh, 2000, 5, Link::Identity), &boosted_odds).unwrap();
    let forest_kernel = KernelModel::from_classifier(&Predictor::Forest(forest.clone()), 5).unwrap();
    compare_scores("trained forest", &executor_scores(&forest_kernel, &fresh, 2000, 5, Link::Identity), &rust_scores(&fresh, 5, |r| forest.log_odds(r)))
        .unwrap();

    // regressors: squared error, Poisson (log link) and a forest, on a count target
    use crate::regress::options::RegressionLoss;
    let counts: Vec<f64> = x.chunks_exact(5).map(|r| ((r[0] + 2.0) * (r[1] + 2.0)).floor()).collect();
    let params = BoostingParams { max_iter: 40, small_data_trees: 40, ..Default::default() };
    for loss in [RegressionLoss::SquaredError, RegressionLoss::Poisson] {
        let m = crate::regress::boosting::fit(&x, 5, &counts, &w, &params, loss, &|| false).unwrap();
        let (kernel, link) = KernelModel::from_regressor(&RegressionPredictor::Boosting(m.clone()), 5).unwrap();
        compare_scores("trained boosted regressor", &executor_scores(&kernel, &fresh, 2000, 5, link), &rust_scores(&fresh, 5, |r| m.predict(r))).unwrap();
    }
    let m = crate::regress::forest::fit(&x, 5, &counts, &w, &ForestParams { n_trees: 10, threads: 1, ..Default::default() }, &|| false).unwrap();
    let (kernel, link) = KernelModel::from_regressor(&RegressionPredictor::Forest(m.clone()), 5).unwrap();
    compare_scores("trained forest regressor", &executor_scores(&kernel, &fresh, 2000, 5, link), &rust_scores(&fresh, 5, |r| m.predict(r))).unwrap();

    // a threshold moved to a neighbouring value, or a leaf value changed, shows
    let mut moved = boosted.clone();
    let split = moved.trees[0].nodes.iter_mut().find(|n| n.left != 0).unwrap();
    split.threshold += 0.05;
    let kernel = KernelModel::from_classifier(&Predictor::Boosting(moved), 5).unwrap();
    assert!(compare_scores("moved threshold", &executor_scores(&kernel, &fresh, 2000, 5, Link::Identity), &boosted_odds).is_err());
    let KernelModel::Trees(mut flat) = boosted_kernel else { panic!("boosting flattens to trees") };
    let last = flat.node_value.len() - 1;
    flat.node_value[last] += 1e-3;
    assert!(compare_scores("changed leaf", &executor_scores(&KernelModel::Trees(flat), &fresh, 2000, 5, Link::Identity), &boosted_odds).is_err());
}

/// Columns of a small customer table: two numbers with NULLs, a category with NULLs.
pub(super) fn customer_table(n: usize, seed: u64) -> (Vec<RawColumn>, Vec<bool>) {
    let mut rng = SplitMix64::new(seed);
    let (mut spend, mut visits, mut plan, mut labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let (s, v, p) = (rng.next_f64() * 100.0, rng.below_modulo(20) as f64, rng.below_modulo(4) as u32);
        let z = 0.03 * s - 0.2 * v + [0.5, -0.5, 1.0, 0.0][p as usize] + if (s > 50.0) != (v > 10.0) { 1.0 } else { -1.0 };
        labels.push(rng.next_f64() < sigmoid(z));
        spend.push(if rng.below_modulo(10) == 0 { f64::NAN } else { s });
        visits.push(if rng.below_modulo(15) == 0 { f64::NAN } else { v });
        plan.push(if rng.below_modulo(12) == 0 { crate::classify::features::NULL_CODE } else { p });
    }
    let columns = vec![
        RawColumn::Numbers { name: "spend".into(), kind: ValueKind::Number, values: spend },
        RawColumn::Numbers { name: "visits".into(), kind: ValueKind::Number, values: visits },
        RawColumn::Categories { name: "plan".into(), codes: plan, levels: ["basic", "plus", "pro", "team"].map(String::from).to_vec() },
    ];
    (columns, labels)
}

#[test]
fn trained_classifiers_match_end_to_end() {
    // crm.train_classifier's pipeline: fitted encoding (imputation, missing indicators,
    // one-hot), then the algorithm; scored on the encoded rows the scorer builds.
    let (columns, labels) = customer_table(2500, 7);
    let rows: Vec<usize> = (0..labels.len()).collect();
    for algorithm in ["logistic", "gradient_boosting", "random_forest", "ensemble"] {
        let options = TrainOptions::parse(algorithm, &serde_json::json!({"time_budget": 0, "refit": false, "n_trees": 15, "max_trees": 50})).unwrap();
        let trained = crate::classify::model::train(&columns, &labels, None, "yes", &options, &|| false).unwrap();
        let model = &trained.classifier;
        let width = model.features.width;
        let x = model.features.encode_rows(&columns, &rows);
        let kernel = KernelModel::from_classifier(&model.predictor, width).unwrap();
        let probabilities = rust_scores(&x, width, |r| sigmoid(model.log_odds_encoded(r)));
        compare_scores(algorithm, &executor_scores(&kernel, &x, rows.len(), width, Link::Sigmoid), &probabilities).unwrap();
    }
    // calibrated models are scored on the CPU: refused with 0A000, not mis-scored
    let options =
        TrainOptions::parse("gradient_boosting", &serde_json::json!({"time_budget": 0, "calibration": "sigmoid", "cv_folds": 2, "max_trees": 20})).unwrap();
    let calibrated = crate::classify::model::train(&columns, &labels, None, "yes", &options, &|| false).unwrap();
    let refused = KernelModel::from_classifier(&calibrated.classifier.predictor, calibrated.classifier.features.width).unwrap_err();
    assert_eq!(refused.sqlstate(), "0A000", "{refused}");
}

#[test]
fn broken_trees_are_refused_or_give_nan_never_a_wild_read() {
    let good = Tree {
        nodes: vec![
            Node { feature: 0, threshold: 0.0, left: 1, right: 2, value: 0.0 },
            Node { feature: 0, threshold: 0.0, left: 0, right: 0, value: 1.0 },
            Node { feature: 0, threshold: 0.0, left: 0, right: 0, value: 2.0 },
        ],
    };
    // node 1 splits to itself: Tree::validate refuses it; walked, it would never end
    let mut cycle = good.clone();
    cycle.nodes[1] = Node { feature: 0, threshold: 9.0, left: 1, right: 1, value: 1.0 };
    let mut wide = good.clone();
    wide.nodes[0].feature = 5;
    let mut outside = good.clone();
    outside.nodes[0].right = 7;
    for bad in [&cycle, &wide, &outside] {
        assert!(FlatTrees::new(2).push_member(MemberKind::Sum, 0.0, std::slice::from_ref(bad)).is_err());
        // the same nodes forced past validation: the kernel's own checks give NaN
        let mut flat = FlatTrees::new(2);
        flat.push_member(MemberKind::Sum, 0.0, std::slice::from_ref(&good)).unwrap();
        for (i, node) in bad.nodes.iter().enumerate() {
            (flat.node_feature[i], flat.node_left[i], flat.node_right[i]) = (node.feature, node.left, node.right);
            flat.node_threshold[i] = node.threshold;
        }
        let x = [-1.0, 0.0, 1.0, 0.0];
        let scores = cpu_executor::tree_score(GRIDS[1], &Batch::new(&x, 2, 2, Order::RowMajor).unwrap(), &flat, Link::Identity).unwrap();
        assert!(scores.iter().any(|s| s.is_nan()), "{scores:?}");
    }
    // inconsistent offsets never reach the kernel
    let mut flat = FlatTrees::new(2);
    flat.push_member(MemberKind::Sum, 0.0, &[good.clone(), good]).unwrap();
    let batch_values = [0.0; 2];
    let batch = Batch::new(&batch_values, 1, 2, Order::RowMajor).unwrap();
    for corrupt in [
        |f: &mut FlatTrees| f.tree_first_node[1] = 99,
        |f: &mut FlatTrees| f.member_first_tree[1] = 3,
        |f: &mut FlatTrees| {
            f.node_left.pop();
        },
        |f: &mut FlatTrees| f.member_kind.clear(),
    ] {
        let mut broken = flat.clone();
        corrupt(&mut broken);
        assert!(cpu_executor::tree_score(GRIDS[0], &batch, &broken, Link::Identity).is_err());
    }
}

pub(super) mod segments {
    use super::*;
    use crate::segment::model::{SegmentFeature, SegmentModel, SegmentOptions};

    /// Raw rows for scoring: present values, NULLs, values log1p cannot take, infinities.
    pub(in crate::gpu) fn raw_rows(rng: &mut SplitMix64, rows: usize, d: usize, scale: f64) -> Vec<f64> {
        (0..rows * d)
            .map(|_| match rng.below_modulo(60) {
                0..=2 => f64::NAN,
                3 => f64::INFINITY,
                4 => -1.0,
                _ => rng.next_f64() * scale,
            })
            .collect()
    }

    /// Executor and `SegmentModel::assign` on the same raw rows: equal segments, distances
    /// within 1e-6 relative.
    fn compare(model: &SegmentModel, segments: &Segments, raw: &[f64]) -> Result<(), String> {
        let d = model.features.len();
        let rows = raw.len() / d;
        let batch = Batch::new(raw, rows, d, Order::RowMajor).unwrap();
        let executor = on_every_grid(|grid| {
            cpu_executor::assign_segments(grid, &batch, segments).unwrap().iter().map(|a| a.map(|(s, d)| (s, d.to_bits()))).collect::<Vec<_>>()
        });
        let executor: Vec<Option<(i32, f64)>> = executor.into_iter().map(|a| a.map(|(s, d)| (s, f64::from_bits(d)))).collect();
        check_assignments(model, raw, &executor)
    }

    /// An executor's assignments of `raw` against `SegmentModel::assign`.
    pub(in crate::gpu) fn check_assignments(model: &SegmentModel, raw: &[f64], executor: &[Option<(i32, f64)>]) -> Result<(), String> {
        let d = model.features.len();
        if executor.len() * d != raw.len() {
            return Err(format!("{} assignments for {} rows", executor.len(), raw.len() / d));
        }
        let mut scratch = Vec::new();
        for (i, (row, got)) in raw.chunks_exact(d).zip(executor).enumerate() {
            let want = model.assign(row, &mut scratch);
            match (got, want) {
                (None, None) => {}
                (Some((s, distance)), Some((t, expected))) if *s == t && close(*distance, expected) => {}
                _ => return Err(format!("row {i}: executor {got:?}, Rust {want:?}")),
            }
        }
        Ok(())
    }

    #[test]
    fn random_models_with_tied_centres_match_assign() {
        let mut rng = SplitMix64::new(8);
        for (d, k) in [(1, 1), (2, 3), (4, 5), (7, 8), (11, 20)] {
            let features: Vec<SegmentFeature> =
                (0..d).map(|j| SegmentFeature { name: format!("f{j}"), log1p: j % 2 == 1, mean: rng.next_f64() * 2.0, std: 0.5 + rng.next_f64() }).collect();
            let mut centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
            // duplicate centres: every row ties between them, and the lower index must win
            if k >= 3 {
                centroids.copy_within(0..d, 2 * d);
            }
            let model = SegmentModel {
                features,
                k,
                centroids,
                sizes: vec![1; k],
                profile: vec![Vec::new(); k],
                overall_mean: vec![0.0; d],
                inertia: 0.0,
                silhouette: None,
            };
            let segments = Segments::from_model(&model).unwrap();
            let raw = raw_rows(&mut rng, 500, d, 6.0);
            compare(&model, &segments, &raw).unwrap();
            if k >= 3 {
                let batch = Batch::new(&raw, 500, d, Order::RowMajor).unwrap();
                let assigned = cpu_executor::assign_segments(GRIDS[2], &batch, &segments).unwrap();
                assert!(assigned.iter().all(|a| a.is_none_or(|(s, _)| s != 3)), "a tied centre above the lowest won");
            }
        }
    }

    #[test]
    fn trained_segmentations_match_assign_and_the_fit() {
        // three blobs in spend (log1p) × visits × tenure
        let mut rng = SplitMix64::new(9);
        let mut data = Vec::new();
        for i in 0..3000 {
            let blob = i % 3;
            data.extend([[20.0, 500.0, 3000.0][blob] * (0.5 + rng.next_f64()), [2.0, 8.0, 20.0][blob] + rng.next_f64() * 3.0, rng.next_f64() * 36.0]);
        }
        let names = ["spend", "visits", "tenure"].map(String::from).to_vec();
        let options = SegmentOptions { log1p: crate::segment::model::Log1p::Columns(vec!["spend".into()]), n_init: 3, ..Default::default() };
        let trained = crate::segment::model::train(&names, data.clone(), Some(4), &options, &|| false).unwrap();
        let segments = Segments::from_model(&trained.model).unwrap();
        compare(&trained.model, &segments, &data).unwrap();
        let fresh = raw_rows(&mut rng, 2000, 3, 600.0);
        compare(&trained.model, &segments, &fresh).unwrap();
        // swapped centres show
        let mut swapped = segments.clone();
        swapped.centroids.swap(0, 3);
        swapped.centroids.swap(1, 4);
        swapped.centroids.swap(2, 5);
        assert!(compare(&trained.model, &swapped, &data).is_err());
        // a moved centre shows
        let mut moved = segments.clone();
        moved.centroids[0] += 0.5;
        assert!(compare(&trained.model, &moved, &fresh).is_err());

        // the k-means core alone: its labels are the nearest final centres
        let z: Vec<f64> = (0..3000 * 3).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
        let fit = crate::segment::kmeans::fit(
            &z,
            3000,
            3,
            &crate::segment::kmeans::KMeansOptions { n_init: 2, threads: 1, ..crate::segment::kmeans::KMeansOptions::new(6) },
            &|| false,
        )
        .unwrap();
        let identity = Segments { log1p: vec![0; 3], mean: vec![0.0; 3], std: vec![1.0; 3], centroids: fit.centroids.clone(), k: 6 };
        let (labels, distances) = cpu_executor::kmeans_assign(GRIDS[2], &z, 3000, &identity).unwrap();
        for (i, row) in z.chunks_exact(3).enumerate() {
            let (label, distance) = crate::segment::kmeans::assign(&fit.centroids, 3, row).unwrap();
            assert_eq!((labels[i] - 1) as usize, label, "row {i}");
            assert_eq!(distances[i].to_bits(), distance.to_bits(), "row {i}");
        }
        assert!(labels.iter().zip(&fit.labels).all(|(&a, &b)| (a - 1) as u32 == b), "the fit's own labels");
    }
}

pub(super) mod als {
    use super::*;
    use crate::recommend::{Algorithm, AlsOptions, InteractionsBuilder, Model, Recommender, TopK};

    /// `tol` of the module doc for one user: the f32 error bound of its scores.
    fn tolerance(user: &[f32], items: &[f32]) -> f32 {
        let f = user.len();
        let largest = items.chunks_exact(f).map(|v| user.iter().zip(v).map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs()).sum::<f64>()).fold(0.0, f64::max);
        ((f as f64 + 2.0) * f64::from(f32::EPSILON) * largest) as f32
    }

    /// The module doc's rule, customer by customer; Ok(customers whose lists differ in
    /// items, all by near-ties).
    pub(in crate::gpu) fn compare(model: &Model, customers: &[Option<u32>], executor: &[Vec<(u32, f32)>], rust: &[Vec<(u32, f32)>]) -> Result<usize, String> {
        let Recommender::Als(als) = model.recommender() else { return Err("not an ALS model".into()) };
        let mut differing = 0;
        let mut scores = vec![0f32; model.n_items()];
        for ((customer, a), b) in customers.iter().zip(executor).zip(rust) {
            if a.len() != b.len() {
                return Err(format!("customer {customer:?}: {} items from the executor, {} from Rust", a.len(), b.len()));
            }
            if a == b {
                continue;
            }
            let Some(user) = customer.and_then(|c| als.user_vector(c)) else {
                return Err(format!("customer {customer:?}: the fallback lists differ: {a:?} vs {b:?}"));
            };
            let tol = tolerance(user, als.item_factors());
            for (r, (x, y)) in a.iter().zip(b).enumerate() {
                if (x.1 - y.1).abs() > tol {
                    return Err(format!("customer {customer:?}, rank {r}: executor {x:?}, Rust {y:?} (tolerance {tol:e})"));
                }
            }
            als.score_all(user, &mut scores);
            let last = b.last().map_or(0.0, |&(_, s)| s);
            let in_list = |list: &[(u32, f32)], item: u32| list.iter().any(|&(j, _)| j == item);
            let odd = a.iter().filter(|&&(j, _)| !in_list(b, j)).chain(b.iter().filter(|&&(j, _)| !in_list(a, j)));
            for &(j, _) in odd {
                if (scores[j as usize] - last).abs() > 2.0 * tol {
                    return Err(format!("customer {customer:?}: item {j} (Rust score {}) is in one list only, not a near-tie with {last}", scores[j as usize]));
                }
            }
            differing += usize::from(a.iter().map(|p| p.0).ne(b.iter().map(|p| p.0)));
        }
        Ok(differing)
    }

    /// 400 customers with tastes over 3 groups of 150 items (20 of them never bought).
    pub(in crate::gpu) fn trained_model(factors: usize) -> Model {
        let mut rng = SplitMix64::new(10);
        let mut builder = InteractionsBuilder::new();
        for c in 0..400 {
            let taste = c % 3;
            for _ in 0..5 + rng.below_modulo(25) {
                let item = if rng.below_modulo(4) == 0 { rng.below_modulo(130) } else { taste * 43 + rng.below_modulo(43) };
                builder.push(&format!("c{c}"), &format!("i{item}"), 1.0 + rng.below_modulo(3) as f64, None).unwrap();
            }
        }
        // items known to the id map but without weight would need a push; the catalogue
        // is the items pushed
        let options = AlsOptions { factors, iterations: 6, ..Default::default() };
        Model::fit(&builder.finish(), &Algorithm::Als(options), 1, &|| false).unwrap()
    }

    #[test]
    fn trained_als_top_k_matches_recommend_many() {
        for factors in [7, 32] {
            let model = trained_model(factors);
            let mut customers: Vec<Option<u32>> = (0..model.n_customers() as u32).map(Some).collect();
            customers.extend([None, Some(100_000)]);
            let exclude = [0, 5, 77, 1_000_000];
            let mut differing = 0;
            for (k, exclude_seen, exclude) in
                [(10, true, &exclude[..]), (10, false, &[][..]), (1, true, &[][..]), (500, true, &exclude[..]), (0, true, &[][..])]
            {
                let executor = on_every_grid(|grid| cpu_executor::recommend_als(grid, &model, &customers, k, exclude_seen, exclude).unwrap());
                let rust = model.recommend_many(&customers, k, exclude_seen, exclude, None, 1, &|| false).unwrap();
                differing += compare(&model, &customers, &executor, &rust).unwrap();
            }
            // near-ties at f32 precision are rare: a systematic difference would not be
            assert!(differing * 50 < customers.len(), "{differing} customers' lists differ (all by near-ties)");
            eprintln!("ALS f = {factors}: {differing} of {} customer lists differ in near-tied items", customers.len() * 5);

            // an item's factors flipped shows
            let mut batch = AlsBatch::from_model(&model, &customers, 10, true, &[]).unwrap().unwrap();
            let rust = model.recommend_many(&customers, 10, true, &[], None, 1, &|| false).unwrap();
            let top = rust[0][0].0 as usize;
            batch.item_factors.to_mut()[top * factors..(top + 1) * factors].iter_mut().for_each(|v| *v = -*v);
            let lists = cpu_executor::als_top_k(GRIDS[2], &batch).unwrap();
            let executor: Vec<Vec<(u32, f32)>> =
                batch.slots.iter().zip(&customers).map(|(slot, &c)| slot.map_or_else(|| model.recommend(c, 10, true, &[], None), |b| lists.list(b))).collect();
            assert!(compare(&model, &customers, &executor, &rust).is_err());
        }
    }

    /// Exact agreement with `TopK` when both see the same scores (the kernel's own):
    /// equal scores to the lower item, -0.0 below +0.0 (total order), non-finite scores
    /// and ineligible or seen items never listed.
    #[test]
    fn top_k_ties_and_exclusions_match_top_k_exactly() {
        let mut rng = SplitMix64::new(11);
        let (f, n_items, users) = (5, 60, 40);
        let mut items: Vec<f32> = (0..n_items * f).map(|_| [0.0, 1.0, -1.0, 0.5][rng.below_modulo(4)]).collect();
        items[7 * f] = f32::NAN;
        items[9 * f] = f32::INFINITY;
        items[11 * f..12 * f].fill(-0.0);
        items.copy_within(20 * f..21 * f, 40 * f);
        let user_factors: Vec<f32> = (0..users * f).map(|_| [0.0, 1.0, -1.0, 2.0][rng.below_modulo(4)]).collect();
        let item_eligible: Vec<u8> = (0..n_items).map(|j| (j % 13 != 3) as u8).collect();
        let mut seen = crate::gpu::layout::ItemLists::new();
        let seen_lists: Vec<Vec<u32>> = (0..users).map(|_| (0..rng.below_modulo(6)).map(|_| rng.below_modulo(n_items) as u32).collect()).collect();
        seen_lists.iter().try_for_each(|s| seen.push(s)).unwrap();
        for k in [1, 3, 10, n_items] {
            let batch = AlsBatch {
                factors: f,
                user_factors: user_factors.clone(),
                item_factors: std::borrow::Cow::Borrowed(&items),
                item_eligible: item_eligible.clone(),
                seen: seen.clone(),
                k,
                slots: (0..users).map(Some).collect(),
            };
            // the same bits on every grid (padding scores are NaN: compared as bits)
            on_every_grid(|grid| {
                let lists = cpu_executor::als_top_k(grid, &batch).unwrap();
                (lists.items, lists.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), lists.counts)
            });
            let lists = cpu_executor::als_top_k(GRIDS[1], &batch).unwrap();
            for (b, seen_items) in seen_lists.iter().enumerate() {
                let user = &user_factors[b * f..(b + 1) * f];
                let mut top = TopK::new(k);
                for j in 0..n_items {
                    // the kernel's score: exact products summed in double, rounded once
                    let s = user.iter().zip(&items[j * f..(j + 1) * f]).fold(-0.0f64, |acc, (u, v)| acc + f64::from(*u) * f64::from(*v)) as f32;
                    if item_eligible[j] == 1 && !seen_items.contains(&(j as u32)) {
                        top.push(j as u32, s);
                    }
                }
                let want = top.into_sorted();
                let got = lists.list(b);
                assert_eq!(got.len(), want.len(), "user {b}, k {k}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(g.0 == w.0 && g.1.to_bits() == w.1.to_bits(), "user {b}, k {k}: {got:?} vs {want:?}");
                }
            }
        }
    }
}
