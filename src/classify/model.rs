//! A trained classifier as stored in the registry, and its training pipeline (pure Rust:
//! raw columns and labels in, model and holdout metrics out).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::boosting::{self, BoostedTrees};
use super::calibration::{Calibrator, Method as CalibrationMethod};
use super::features::{Feature, FeatureSet, RawColumn, Value};
use super::forest::{self, RandomForest};
use super::logistic::{self, sigmoid, LogisticModel, LogisticParams};
use super::metrics::{self, Metrics};
use super::options::{Algorithm, TrainOptions};
use super::tune;
use crate::error::{CrmError, Result};
use crate::pool;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predictor {
    Logistic(LogisticModel),
    Boosting(BoostedTrees),
    Forest(RandomForest),
    /// The mean log-odds of its members (gradient boosting and random forest fitted on
    /// the same rows): the two err differently, and their average ranks better than
    /// either on most tabular data. Added last, so stored models keep their encoding.
    /// Members are read as `Member` (no nested ensemble): stored bytes cannot nest
    /// ensembles deep enough to overflow the stack while decoding.
    Ensemble(#[serde(deserialize_with = "flat_members")] Vec<Predictor>),
    /// A predictor whose log-odds go through a fitted calibration map (see
    /// `calibration`). Added after `Ensemble`, so older models keep their encoding; the
    /// inner predictor is read as `Base` (never calibrated twice).
    Calibrated(#[serde(deserialize_with = "base_predictor")] Box<Predictor>, Calibrator),
}

/// What a calibrated predictor may wrap; variants in `Predictor`'s order.
#[derive(Deserialize)]
enum Base {
    Logistic(LogisticModel),
    Boosting(BoostedTrees),
    Forest(RandomForest),
    Ensemble(#[serde(deserialize_with = "flat_members")] Vec<Predictor>),
}

fn base_predictor<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Box<Predictor>, D::Error> {
    let base: Base = Deserialize::deserialize(deserializer)?;
    Ok(Box::new(match base {
        Base::Logistic(m) => Predictor::Logistic(m),
        Base::Boosting(m) => Predictor::Boosting(m),
        Base::Forest(m) => Predictor::Forest(m),
        Base::Ensemble(m) => Predictor::Ensemble(m),
    }))
}

/// What an ensemble's members may be; variants in `Predictor`'s order, so the encoding
/// of a member is the encoding of the same `Predictor`.
#[derive(Deserialize)]
enum Member {
    Logistic(LogisticModel),
    Boosting(BoostedTrees),
    Forest(RandomForest),
}

fn flat_members<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Vec<Predictor>, D::Error> {
    let members: Vec<Member> = Deserialize::deserialize(deserializer)?;
    Ok(members
        .into_iter()
        .map(|m| match m {
            Member::Logistic(m) => Predictor::Logistic(m),
            Member::Boosting(m) => Predictor::Boosting(m),
            Member::Forest(m) => Predictor::Forest(m),
        })
        .collect())
}

impl Predictor {
    /// Whether the predictor can score encoded rows of `width` columns safely.
    fn validate(&self, width: usize) -> std::result::Result<(), String> {
        match self {
            Predictor::Logistic(m) if m.weights.len() != width => Err(format!("{} weights for {width} encoded columns", m.weights.len())),
            Predictor::Logistic(_) => Ok(()),
            Predictor::Boosting(m) => m.trees.iter().try_for_each(|t| t.validate(width)),
            Predictor::Forest(m) if m.trees.is_empty() => Err("a random forest without trees".into()),
            Predictor::Forest(m) => m.trees.iter().try_for_each(|t| t.validate(width)),
            Predictor::Ensemble(members) if members.is_empty() => Err("an ensemble without members".into()),
            Predictor::Ensemble(members) => members.iter().try_for_each(|m| m.validate(width)),
            Predictor::Calibrated(inner, calibrator) => {
                calibrator.validate()?;
                inner.validate(width)
            }
        }
    }
}

impl crate::registry::StoredModel for Classifier {
    const KIND: crate::registry::Kind = crate::registry::Kind::Classifier;

    fn validate(&self) -> std::result::Result<(), String> {
        self.features.validate()?;
        self.predictor.validate(self.features.width)
    }
}

impl Predictor {
    fn log_odds(&self, x: &[f64]) -> f64 {
        match self {
            Predictor::Logistic(m) => m.log_odds(x),
            Predictor::Boosting(m) => m.log_odds(x),
            Predictor::Forest(m) => m.log_odds(x),
            Predictor::Ensemble(members) => members.iter().map(|m| m.log_odds(x)).sum::<f64>() / members.len().max(1) as f64,
            Predictor::Calibrated(inner, calibrator) => calibrator.log_odds(inner.log_odds(x)),
        }
    }

    /// The predictor without its calibration, if any.
    pub fn uncalibrated(&self) -> &Predictor {
        match self {
            Predictor::Calibrated(inner, _) => inner,
            other => other,
        }
    }

    /// (base, contributions per encoded column) adding up to `log_odds(x)`; an
    /// ensemble's are its members' averaged, so they add up to its mean log-odds.
    fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        match self {
            Predictor::Logistic(m) => (m.intercept, m.weights.iter().zip(x).map(|(w, v)| w * v).collect()),
            Predictor::Boosting(m) => m.contributions(x, width),
            Predictor::Forest(m) => m.contributions(x, width),
            Predictor::Ensemble(members) => {
                let k = members.len().max(1) as f64;
                let mut base = 0.0;
                let mut out = vec![0.0; width];
                for member in members {
                    let (b, c) = member.contributions(x, width);
                    base += b / k;
                    out.iter_mut().zip(c).for_each(|(o, v)| *o += v / k);
                }
                (base, out)
            }
            // The calibration map g is monotone: the base becomes g(base) and every
            // contribution is scaled by one factor, (g(z) − g(base)) / (z − base), so they
            // still add up to the calibrated log-odds g(z) and keep their signs.
            Predictor::Calibrated(inner, calibrator) => {
                let (base, mut out) = inner.contributions(x, width);
                let z = base + out.iter().sum::<f64>();
                let (gb, gz) = (calibrator.log_odds(base), calibrator.log_odds(z));
                let scale = if (z - base).abs() > 1e-12 { (gz - gb) / (z - base) } else { 1.0 };
                out.iter_mut().for_each(|c| *c *= scale);
                (gb, out)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classifier {
    pub features: FeatureSet,
    pub predictor: Predictor,
    pub positive_class: String,
}

/// One feature's share of a prediction, in log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub feature: usize,
    pub contribution: f64,
}

impl Classifier {
    /// The algorithm (a calibrated model's is its inner predictor's; see `calibration`).
    pub fn algorithm(&self) -> &'static str {
        match self.predictor.uncalibrated() {
            Predictor::Logistic(_) => "logistic",
            Predictor::Boosting(_) => "gradient_boosting",
            Predictor::Forest(_) => "random_forest",
            _ => "ensemble",
        }
    }

    /// 'sigmoid', 'isotonic' or 'none'.
    pub fn calibration(&self) -> &'static str {
        match &self.predictor {
            Predictor::Calibrated(_, Calibrator::Sigmoid { .. }) => "sigmoid",
            Predictor::Calibrated(_, Calibrator::Isotonic { .. }) => "isotonic",
            _ => "none",
        }
    }

    /// Log-odds of the positive class for an encoded row.
    pub fn log_odds_encoded(&self, x: &[f64]) -> f64 {
        self.predictor.log_odds(x)
    }

    /// Encodes raw values (one per feature, in `features` order) into `buffer`.
    pub fn encode(&self, values: &[Value<'_>], buffer: &mut Vec<f64>) {
        self.encode_cells(values, buffer)
    }

    /// As `encode`, for anything that yields a `Value` (the scorer's row cells), without
    /// collecting the values first.
    pub fn encode_cells<T>(&self, cells: &[T], buffer: &mut Vec<f64>)
    where
        for<'v> &'v T: Into<Value<'v>>,
    {
        self.features.encode_cells(cells, buffer)
    }

    pub fn probability(&self, values: &[Value<'_>], buffer: &mut Vec<f64>) -> f64 {
        self.encode(values, buffer);
        sigmoid(self.log_odds_encoded(buffer))
    }

    /// Logistic regression in original units: (term, coefficient), the intercept first.
    /// A numeric column's weight is divided by its standard deviation and its mean folded
    /// into the intercept, so `1/(1+exp(-(b0 + Σ bᵢ·xᵢ)))` over raw columns (no NULLs)
    /// is the model's probability. Indicator and one-hot terms are 0/1 columns.
    pub fn coefficients(&self) -> Option<Vec<(String, f64)>> {
        match &self.predictor {
            Predictor::Logistic(m) => Some(original_units(&self.features, &m.weights, m.intercept)),
            // σ(a·(b₀ + w·x) + b) is still a logistic model: its coefficients scale by a
            Predictor::Calibrated(inner, Calibrator::Sigmoid { a, b }) => match inner.as_ref() {
                Predictor::Logistic(m) => {
                    let weights: Vec<f64> = m.weights.iter().map(|w| w * a).collect();
                    Some(original_units(&self.features, &weights, m.intercept * a + b))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// (base value, per-feature contributions): they add up to the row's log-odds.
    /// For logistic regression on standardised inputs this is exact: the base is the
    /// intercept (the log-odds of a customer at every feature's mean), a feature's
    /// contribution the sum of weight × encoded value over its encoded columns. Trees:
    /// Saabas path contributions (for the forest averaged in probability units, then
    /// scaled to log-odds, see `RandomForest::contributions`). Ensembles: the mean of
    /// their members'.
    pub fn explain(&self, values: &[Value<'_>]) -> (f64, Vec<Contribution>) {
        let mut x = Vec::new();
        self.encode(values, &mut x);
        // contributions per encoded column, then summed per input feature
        let (base, per_column) = self.predictor.contributions(&x, self.features.width);
        (base, per_feature(&self.features, &per_column))
    }
}

/// Contributions per encoded column summed per input feature (a categorical feature's
/// one-hot columns are one feature). Shared with the regressor.
pub(crate) fn per_feature(features: &FeatureSet, per_column: &[f64]) -> Vec<Contribution> {
    features
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = features.offsets[i];
            Contribution { feature: i, contribution: per_column[at..at + f.width()].iter().sum() }
        })
        .collect()
}

/// A linear model on encoded columns in original units: (term, coefficient), the
/// intercept first. A numeric column's weight is divided by its standard deviation and
/// its mean folded into the intercept, so `b0 + Σ bᵢ·xᵢ` over raw columns (no NULLs) is
/// the model's linear predictor. Indicator and one-hot terms are 0/1 columns. Shared by
/// logistic regression and ridge.
pub(crate) fn original_units(features: &FeatureSet, weights: &[f64], intercept: f64) -> Vec<(String, f64)> {
    let mut intercept = intercept;
    let mut terms = Vec::new();
    for (i, feature) in features.features.iter().enumerate() {
        let at = features.offsets[i];
        let names = feature.encoded_names();
        match feature {
            Feature::Numeric { mean, std, .. } => {
                terms.push((names[0].clone(), weights[at] / std));
                intercept -= weights[at] * mean / std;
                for (k, name) in names.iter().enumerate().skip(1) {
                    terms.push((name.clone(), weights[at + k]));
                }
            }
            Feature::Categorical { .. } => {
                for (k, name) in names.iter().enumerate() {
                    terms.push((name.clone(), weights[at + k]));
                }
            }
        }
    }
    let mut out = vec![("(intercept)".to_string(), intercept)];
    out.extend(terms);
    out
}

/// What training produced: the final model, its holdout metrics and bookkeeping.
pub struct Trained {
    pub classifier: Classifier,
    pub metrics: Metrics,
    pub candidates: Vec<(String, Metrics)>,
    pub training_rows: usize,
    pub holdout_rows: usize,
    /// The holdout rows (indexes into the training columns).
    pub holdout: Vec<usize>,
    pub seconds: f64,
    /// The options the kept model was fitted with (the search's choice, if any).
    pub options: TrainOptions,
    /// The hyperparameter search: every candidate's cross-validated scores.
    pub search: Option<serde_json::Value>,
    /// Calibration: method and holdout ECE / log loss / Brier before and after.
    pub calibration: Option<serde_json::Value>,
}

impl crate::lifecycle::Monitored for Classifier {
    fn feature_set(&self) -> &FeatureSet {
        &self.features
    }

    fn output_encoded(&self, x: &[f64]) -> f64 {
        sigmoid(self.log_odds_encoded(x))
    }

    fn explain(&self, values: &[Value<'_>]) -> (f64, Vec<f64>) {
        let (base, contributions) = Classifier::explain(self, values);
        (base, contributions.into_iter().map(|c| c.contribution).collect())
    }
}

/// Stratified holdout: `fraction` of each class, shuffled with `seed`.
pub fn stratified_split(labels: &[bool], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let mut is_test = vec![false; labels.len()];
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        for i in (1..rows.len()).rev() {
            rows.swap(i, rng.below_modulo(i + 1));
        }
        let k = ((rows.len() as f64) * fraction).round() as usize;
        rows[..k].iter().for_each(|&r| is_test[r] = true);
    }
    // Both lists in source order, from the mask (not a sort of a million indexes).
    (0..labels.len()).partition(|&r| !is_test[r])
}

fn sample_weights(labels: &[bool], rows: &[usize], balanced: bool) -> Vec<f64> {
    if !balanced {
        return vec![1.0; rows.len()];
    }
    let pos = rows.iter().filter(|&&r| labels[r]).count() as f64;
    let neg = rows.len() as f64 - pos;
    let n = rows.len() as f64;
    rows.iter().map(|&r| if labels[r] { n / (2.0 * pos) } else { n / (2.0 * neg) }).collect()
}

pub(crate) fn fit_on(
    algorithm: Algorithm,
    columns: &[RawColumn],
    labels: &[bool],
    rows: &[usize],
    options: &TrainOptions,
    should_stop: &dyn Fn() -> bool,
) -> Result<(FeatureSet, Predictor)> {
    // Each column's preprocessing (a median by selection, mean, deviation, levels) is
    // independent: fitted on the pool, in column order; on few rows threads cost more
    // than they save.
    let threads = if rows.len() < 50_000 { 1 } else { 0 };
    let fitted: Vec<Feature> =
        pool::map_ranges(columns.len(), 1, threads, should_stop, |c, _| Feature::fit(&columns[c.start], rows, options.max_levels, options.min_level_count))?;
    let features = FeatureSet::new(fitted);
    let x = features.encode_rows(columns, rows);
    let y: Vec<f64> = rows.iter().map(|&r| labels[r] as u8 as f64).collect();
    let w = sample_weights(labels, rows, options.balanced);
    let predictor = match algorithm {
        Algorithm::Logistic | Algorithm::Auto => {
            let params = LogisticParams { c: options.c, max_iter: options.max_iter, tol: options.tol };
            Predictor::Logistic(logistic::fit(&x, features.width, &y, &w, &params, should_stop)?)
        }
        Algorithm::GradientBoosting => {
            let params = boosting::BoostingParams { seed: options.seed, ..options.boosting.clone() };
            Predictor::Boosting(boosting::fit(&x, features.width, &y, &w, &params, should_stop)?)
        }
        Algorithm::RandomForest => {
            let params = forest::ForestParams { seed: options.seed, ..options.forest.clone() };
            Predictor::Forest(forest::fit(&x, features.width, &y, &w, &params, should_stop)?)
        }
        Algorithm::Ensemble => {
            let boosting_params = boosting::BoostingParams { seed: options.seed, ..options.boosting.clone() };
            let forest_params = forest::ForestParams { seed: options.seed, ..options.forest.clone() };
            Predictor::Ensemble(vec![
                Predictor::Boosting(boosting::fit(&x, features.width, &y, &w, &boosting_params, should_stop)?),
                Predictor::Forest(forest::fit(&x, features.width, &y, &w, &forest_params, should_stop)?),
            ])
        }
    };
    Ok((features, predictor))
}

/// Trains, evaluates on the holdout, and (unless `refit` is off) refits on all rows.
/// `should_stop` is polled on this thread throughout (worker threads never call it);
/// when it answers true training ends with `CrmError::Canceled`.
pub fn train(
    columns: &[RawColumn],
    labels: &[bool],
    test_mask: Option<&[bool]>,
    positive_class: &str,
    options: &TrainOptions,
    should_stop: &dyn Fn() -> bool,
) -> Result<Trained> {
    let started = Instant::now();
    let (train_rows, test_rows) = match test_mask {
        Some(mask) => ((0..labels.len()).filter(|&i| !mask[i]).collect::<Vec<_>>(), (0..labels.len()).filter(|&i| mask[i]).collect::<Vec<_>>()),
        None => stratified_split(labels, options.test_fraction, options.seed),
    };
    let classes = |rows: &[usize]| (rows.iter().filter(|&&r| labels[r]).count(), rows.iter().filter(|&&r| !labels[r]).count());
    let (tp, tn) = classes(&train_rows);
    let (hp, hn) = classes(&test_rows);
    if tp == 0 || tn == 0 {
        return Err(CrmError::InvalidArgument("the training rows hold only one class of the target".into()));
    }
    if hp == 0 || hn == 0 {
        return Err(CrmError::InvalidArgument(
            "the holdout rows hold only one class of the target: use more rows, a larger options.test_fraction or another options.split".into(),
        ));
    }
    let y: Vec<bool> = test_rows.iter().map(|&r| labels[r]).collect();
    let holdout_probabilities = |model: &Classifier| -> Vec<f64> {
        let x = model.features.encode_rows(columns, &test_rows);
        let width = model.features.width;
        (0..test_rows.len()).map(|i| sigmoid(model.log_odds_encoded(&x[i * width..(i + 1) * width]))).collect()
    };
    let holdout_metrics = |model: &Classifier| metrics::evaluate(&holdout_probabilities(model), &y);
    let new_model = |features, predictor| Classifier { features, predictor, positive_class: positive_class.to_string() };

    // The configuration: searched by cross-validation on the training rows within the
    // time budget, or (no budget, or no configuration scored in it) the defaults compared
    // on the holdout as before the search existed.
    let budget = options.search_budget();
    let search = if budget > 0.0 {
        let deadline = started + std::time::Duration::from_secs_f64(budget);
        Some(tune::search(columns, labels, &train_rows, options, deadline, should_stop)?)
    } else {
        None
    };
    let mut candidates = Vec::new();
    let (chosen, metrics, model, out_of_fold) = match search.as_ref().and_then(|s| s.chosen.clone().map(|c| (c, s.out_of_fold.clone()))) {
        Some((candidate, out_of_fold)) => {
            let (features, predictor) = fit_on(candidate.algorithm, columns, labels, &train_rows, &candidate.options, should_stop)?;
            let model = new_model(features, predictor);
            let metrics = holdout_metrics(&model);
            candidates.push((model.algorithm().to_string(), metrics.clone()));
            (candidate, metrics, model, out_of_fold)
        }
        None => {
            let defaults = |algorithm| tune::Candidate { algorithm, options: options.clone(), describe: serde_json::Value::Null, default: true };
            let to_try: Vec<Algorithm> = match options.algorithm {
                Algorithm::Auto => vec![Algorithm::Logistic, Algorithm::GradientBoosting, Algorithm::RandomForest],
                a => vec![a],
            };
            let mut fitted: Vec<(Algorithm, Metrics, Classifier)> = Vec::new();
            for algorithm in to_try {
                let (features, predictor) = fit_on(algorithm, columns, labels, &train_rows, options, should_stop)?;
                let model = new_model(features, predictor);
                fitted.push((algorithm, holdout_metrics(&model), model));
            }
            if options.algorithm == Algorithm::Auto {
                // The ensemble of the two tree models just fitted (same rows, same
                // features): no more fitting to evaluate it.
                let member = |a: Algorithm| fitted.iter().find(|(b, _, _)| *b == a).map(|(_, _, m)| m);
                if let (Some(trees), Some(forest)) = (member(Algorithm::GradientBoosting), member(Algorithm::RandomForest)) {
                    if trees.features == forest.features {
                        let model = new_model(trees.features.clone(), Predictor::Ensemble(vec![trees.predictor.clone(), forest.predictor.clone()]));
                        fitted.push((Algorithm::Ensemble, holdout_metrics(&model), model));
                    }
                }
            }
            let mut best: Option<(Algorithm, Metrics, Classifier)> = None;
            for (algorithm, m, model) in fitted {
                candidates.push((model.algorithm().to_string(), m.clone()));
                if best.as_ref().is_none_or(|(_, bm, _)| m.roc_auc > bm.roc_auc) {
                    best = Some((algorithm, m, model));
                }
            }
            let (algorithm, metrics, model) = best.ok_or_else(|| CrmError::InvalidArgument("no algorithm to train".into()))?;
            (defaults(algorithm), metrics, model, None)
        }
    };

    // Calibration, fitted on out-of-fold log-odds of the training rows (those of the
    // search when it scored the chosen configuration on every fold), never on the holdout.
    let (calibrator, metrics, calibration) = if options.calibration == CalibrationMethod::None {
        (None, metrics, None)
    } else {
        let z = match out_of_fold {
            Some(z) => z,
            None => tune::out_of_fold(&chosen, columns, labels, &train_rows, options.cv_folds.max(2), options.seed, should_stop)?,
        };
        let train_labels: Vec<bool> = train_rows.iter().map(|&r| labels[r]).collect();
        match Calibrator::fit(options.calibration, &z, &train_labels) {
            Some(calibrator) => {
                let calibrated = new_model(model.features.clone(), Predictor::Calibrated(Box::new(model.predictor.clone()), calibrator.clone()));
                let after = holdout_metrics(&calibrated);
                let report = serde_json::json!({"method": options.calibration.name(), "folds": options.cv_folds.max(2),
                    "holdout_ece_before": metrics.expected_calibration_error, "holdout_ece_after": after.expected_calibration_error,
                    "holdout_log_loss_before": metrics.log_loss, "holdout_log_loss_after": after.log_loss,
                    "holdout_brier_before": metrics.brier, "holdout_brier_after": after.brier});
                (Some(calibrator), after, Some(report))
            }
            None => (None, metrics, None),
        }
    };
    let (features, predictor) = if options.refit {
        let all: Vec<usize> = (0..labels.len()).collect();
        fit_on(chosen.algorithm, columns, labels, &all, &chosen.options, should_stop)?
    } else {
        (model.features, model.predictor)
    };
    let predictor = match calibrator {
        Some(c) => Predictor::Calibrated(Box::new(predictor), c),
        None => predictor,
    };
    let search_report = search.map(|s| {
        serde_json::json!({"time_budget": budget, "cv_folds": s.folds, "seconds": s.seconds, "budget_exhausted": s.exhausted,
            "chosen": s.chosen.as_ref().map(|c| serde_json::json!({"algorithm": tune::algorithm_name(c.algorithm), "hyperparameters": c.describe})),
            "candidates": s.report})
    });
    Ok(Trained {
        classifier: Classifier { features, predictor, positive_class: positive_class.to_string() },
        metrics,
        candidates,
        training_rows: train_rows.len(),
        holdout_rows: test_rows.len(),
        holdout: test_rows,
        seconds: started.elapsed().as_secs_f64(),
        options: chosen.options,
        search: search_report,
        calibration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::features::ValueKind;

    #[test]
    fn split_is_stratified_and_seeded() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        let (train, test) = stratified_split(&labels, 0.2, 7);
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&r| labels[r]).count(), 20);
        assert_eq!(stratified_split(&labels, 0.2, 7), (train.clone(), test.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, test);
    }

    #[test]
    fn trains_explains_and_contributions_add_up() {
        let mut rng = SplitMix64::new(3);
        let n = 4000;
        let mut x1 = Vec::new();
        let mut plan = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let a = (rng.below_modulo(1000) as f64) / 100.0;
            let p = rng.below_modulo(3) as u32;
            let z = -2.0 + 0.4 * a + if p == 2 { 1.5 } else { 0.0 };
            x1.push(if i % 50 == 0 { f64::NAN } else { a });
            plan.push(p);
            labels.push((rng.below_modulo(10_000) as f64 / 10_000.0) < sigmoid(z));
        }
        let columns = vec![
            RawColumn::Numbers { name: "calls".into(), kind: ValueKind::Number, values: x1 },
            RawColumn::Categories { name: "plan".into(), codes: plan, levels: vec!["a".into(), "b".into(), "c".into()] },
        ];
        let opts = TrainOptions::default();
        let t = train(&columns, &labels, None, "yes", &opts, &|| false).unwrap();
        assert!(t.metrics.roc_auc > 0.75, "{:?}", t.metrics);
        let values = [Value::Number(7.0), Value::Text("c")];
        let (base, contributions) = t.classifier.explain(&values);
        let total = base + contributions.iter().map(|c| c.contribution).sum::<f64>();
        let mut buf = Vec::new();
        let p = t.classifier.probability(&values, &mut buf);
        assert!((sigmoid(total) - p).abs() < 1e-12);
        assert!(contributions[1].contribution > 0.5, "plan=c raises the risk");
        // coefficients in original units reproduce the probability
        let coef = t.classifier.coefficients().unwrap();
        let get = |n: &str| coef.iter().find(|(k, _)| k == n).map(|(_, v)| *v).unwrap();
        let z = get("(intercept)") + get("calls") * 7.0 + get("plan=c");
        assert!((sigmoid(z) - p).abs() < 1e-9);
    }
    #[test]
    fn calibrated_models_round_trip_explain_exactly_and_never_nest() {
        let mut rng = SplitMix64::new(21);
        let n = 3000;
        let (mut a, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let x = rng.next_f64() * 10.0;
            a.push(x);
            labels.push(rng.next_f64() < sigmoid(-3.0 + 0.5 * x));
        }
        let columns = vec![RawColumn::Numbers { name: "a".into(), kind: ValueKind::Number, values: a }];
        for method in ["sigmoid", "isotonic"] {
            let opts = TrainOptions::parse("gradient_boosting", &serde_json::json!({"calibration": method, "time_budget": 0, "cv_folds": 3})).unwrap();
            let t = train(&columns, &labels, None, "yes", &opts, &|| false).unwrap();
            assert_eq!(t.classifier.calibration(), method);
            assert_eq!(t.classifier.algorithm(), "gradient_boosting");
            let report = t.calibration.as_ref().expect("a calibration report");
            assert!(report["holdout_ece_after"].as_f64().unwrap() >= 0.0);
            let mut buf = Vec::new();
            for x in [0.5, 5.0, 9.5] {
                let values = [Value::Number(x)];
                let p = t.classifier.probability(&values, &mut buf);
                let (base, contributions) = t.classifier.explain(&values);
                let total = base + contributions.iter().map(|c| c.contribution).sum::<f64>();
                assert!((sigmoid(total) - p).abs() < 1e-9, "{method}: explanation adds up");
            }
            let bytes = crate::registry::encode(crate::registry::Kind::Classifier, &t.classifier).unwrap();
            let back: Classifier = crate::registry::decode_model(&bytes, "m").unwrap();
            assert_eq!(back, t.classifier);
            // a calibration of a calibration is refused when decoded (no unbounded nesting)
            let mut nested = t.classifier.clone();
            let Predictor::Calibrated(_, c) = &t.classifier.predictor else { panic!("not calibrated") };
            nested.predictor = Predictor::Calibrated(Box::new(t.classifier.predictor.clone()), c.clone());
            let bytes = crate::registry::encode(crate::registry::Kind::Classifier, &nested).unwrap();
            assert_eq!(crate::registry::decode_model::<Classifier>(&bytes, "m").unwrap_err().sqlstate(), "XX001");
        }
    }

    #[test]
    fn random_forest_trains_explains_and_round_trips() {
        // risk rises where calls and tenure interact (a rule no linear model holds)
        let mut rng = SplitMix64::new(11);
        let n = 3000;
        let (mut calls, mut tenure, mut plan, mut labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let (a, t, p) = (rng.below_modulo(100) as f64 / 10.0, rng.below_modulo(60) as f64, rng.below_modulo(3) as u32);
            let risky = (a > 5.0) == (t < 30.0);
            calls.push(if i % 40 == 0 { f64::NAN } else { a });
            tenure.push(t);
            plan.push(p);
            labels.push(rng.below_modulo(100) < if risky { 70 } else { 10 } + if p == 2 { 15 } else { 0 });
        }
        let columns = vec![
            RawColumn::Numbers { name: "calls".into(), kind: ValueKind::Number, values: calls },
            RawColumn::Numbers { name: "tenure".into(), kind: ValueKind::Number, values: tenure },
            RawColumn::Categories { name: "plan".into(), codes: plan, levels: vec!["a".into(), "b".into(), "c".into()] },
        ];
        let rf = train(&columns, &labels, None, "yes", &TrainOptions::parse("random_forest", &serde_json::json!({"n_trees": 60})).unwrap(), &|| false).unwrap();
        let lr = train(&columns, &labels, None, "yes", &TrainOptions::parse("logistic", &serde_json::json!({})).unwrap(), &|| false).unwrap();
        assert_eq!(rf.classifier.algorithm(), "random_forest");
        assert!(rf.metrics.roc_auc > lr.metrics.roc_auc + 0.1, "forest {} vs logistic {}", rf.metrics.roc_auc, lr.metrics.roc_auc);
        let mut buf = Vec::new();
        for values in [[Value::Number(8.0), Value::Number(5.0), Value::Text("c")], [Value::Null, Value::Number(50.0), Value::Text("zzz")]] {
            let p = rf.classifier.probability(&values, &mut buf);
            assert!((0.0..=1.0).contains(&p));
            let (base, contributions) = rf.classifier.explain(&values);
            let total = base + contributions.iter().map(|c| c.contribution).sum::<f64>();
            assert!((total - rf.classifier.log_odds_encoded(&buf)).abs() < 1e-9);
            assert!((sigmoid(total) - p).abs() < 1e-9);
        }
        // stored bytes give the same model back
        let bytes = crate::registry::encode(crate::registry::Kind::Classifier, &rf.classifier).unwrap();
        let back: Classifier = crate::registry::decode(&bytes, crate::registry::Kind::Classifier, "test").unwrap();
        assert_eq!(back, rf.classifier);
        // auto tries the forest too
        let auto = train(
            &columns,
            &labels,
            None,
            "yes",
            &TrainOptions { forest: forest::ForestParams { n_trees: 30, ..Default::default() }, time_budget: Some(0.0), ..Default::default() },
            &|| false,
        )
        .unwrap();
        let names: Vec<&str> = auto.candidates.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["logistic", "gradient_boosting", "random_forest", "ensemble"]);
        assert_ne!(auto.classifier.algorithm(), "logistic");
        // the ensemble: the mean log-odds of its members, explained exactly, stored whole
        let both = train(&columns, &labels, None, "yes", &TrainOptions::parse("ensemble", &serde_json::json!({"n_trees": 30})).unwrap(), &|| false).unwrap();
        assert_eq!(both.classifier.algorithm(), "ensemble");
        let Predictor::Ensemble(members) = &both.classifier.predictor else { panic!("not an ensemble") };
        assert_eq!(members.len(), 2);
        for values in [[Value::Number(8.0), Value::Number(5.0), Value::Text("c")], [Value::Null, Value::Number(50.0), Value::Text("a")]] {
            let p = both.classifier.probability(&values, &mut buf);
            let mean = members.iter().map(|m| m.log_odds(&buf)).sum::<f64>() / 2.0;
            assert!((both.classifier.log_odds_encoded(&buf) - mean).abs() < 1e-12);
            let (base, contributions) = both.classifier.explain(&values);
            let total = base + contributions.iter().map(|c| c.contribution).sum::<f64>();
            assert!((sigmoid(total) - p).abs() < 1e-9);
        }
        let bytes = crate::registry::encode(crate::registry::Kind::Classifier, &both.classifier).unwrap();
        let back: Classifier = crate::registry::decode(&bytes, crate::registry::Kind::Classifier, "test").unwrap();
        assert_eq!(back, both.classifier);

        // stored bytes are not trusted: a structurally broken model is XX001 when decoded,
        // never a walk that loops or reads out of bounds
        use crate::registry::{decode_model, encode, Kind};
        assert!(decode_model::<Classifier>(&bytes, "m").is_ok());
        let rejected = |c: &Classifier| {
            let Err(err) = decode_model::<Classifier>(&encode(Kind::Classifier, c).unwrap(), "model \"x\" version 1") else {
                panic!("a broken model was accepted");
            };
            assert_eq!(err.sqlstate(), "XX001", "{err}");
            assert!(err.message().contains("model \"x\" version 1"), "{err}");
        };
        fn first_tree(c: &mut Classifier) -> &mut crate::classify::tree::Tree {
            let Predictor::Ensemble(m) = &mut c.predictor else { unreachable!() };
            match &mut m[0] {
                Predictor::Boosting(b) => &mut b.trees[0],
                Predictor::Forest(f) => &mut f.trees[0],
                _ => unreachable!(),
            }
        }
        for broken in 0..4 {
            let mut c = both.classifier.clone();
            let tree = first_tree(&mut c);
            // a split below the root (left = 0 marks a leaf, so the root cannot loop to itself)
            let i = (1..tree.nodes.len()).find(|&k| tree.nodes[k].left != 0).expect("a split below the root");
            let n = tree.nodes.len() as u32;
            match broken {
                0 => tree.nodes[i].left = i as u32,  // a cycle
                1 => tree.nodes[i].right = n + 7,    // a child outside the tree
                2 => tree.nodes[i].feature = 10_000, // a column outside the row
                _ => tree.nodes.clear(),             // no root
            }
            rejected(&c);
        }
        let mut nested = both.classifier.clone();
        nested.predictor = Predictor::Ensemble(vec![both.classifier.predictor.clone()]);
        rejected(&nested);
        let mut short = lr.classifier.clone();
        if let Predictor::Logistic(m) = &mut short.predictor {
            m.weights.pop();
        }
        rejected(&short);
        let mut offsets = lr.classifier.clone();
        offsets.features.width += 3;
        rejected(&offsets);
    }
}

/// mlc_churn with the dataset protocol, outside Postgres (the benchmark runs the same
/// through SQL). Ignored by default: it needs ../shared/datasets and a release build.
#[cfg(test)]
mod mlc_churn {
    use super::*;
    use crate::classify::features::ValueKind;
    use std::collections::HashMap;

    #[test]
    #[ignore]
    fn mlc_churn_holdout_auc() {
        let Some(path) = crate::shared_dataset("mlc_churn.csv") else { return };
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(|s| s.trim_matches('"').to_string()).collect();
        let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(|s| s.trim_matches('"').to_string()).collect()).collect();
        let target = header.iter().position(|h| h == "churn").unwrap();
        let labels: Vec<bool> = rows.iter().map(|r| r[target] == "yes").collect();
        let test: Vec<bool> = (0..rows.len()).map(|i| (i + 1) % 5 == 0).collect();
        let mut columns = Vec::new();
        for (j, name) in header.iter().enumerate() {
            if j == target {
                continue;
            }
            if rows.iter().all(|r| r[j] == "NA" || r[j].parse::<f64>().is_ok()) {
                let values = rows.iter().map(|r| r[j].parse().unwrap_or(f64::NAN)).collect();
                columns.push(RawColumn::Numbers { name: name.clone(), kind: ValueKind::Number, values });
            } else {
                let mut dict: HashMap<String, u32> = HashMap::new();
                let codes = rows
                    .iter()
                    .map(|r| {
                        let n = dict.len() as u32;
                        *dict.entry(r[j].clone()).or_insert(n)
                    })
                    .collect();
                let mut levels = vec![String::new(); dict.len()];
                for (k, v) in dict {
                    levels[v as usize] = k;
                }
                columns.push(RawColumn::Categories { name: name.clone(), codes, levels });
            }
        }
        let budget: f64 = std::env::var("PG_CRM_TIME_BUDGET").ok().and_then(|b| b.parse().ok()).unwrap_or(crate::classify::options::DEFAULT_TIME_BUDGET);
        for algorithm in ["logistic", "gradient_boosting", "random_forest", "ensemble", "auto"] {
            let opts = TrainOptions::parse(algorithm, &serde_json::json!({"time_budget": budget})).unwrap();
            let t = train(&columns, &labels, Some(&test), "yes", &opts, &|| false).unwrap();
            eprintln!(
                "{algorithm}: ROC AUC {:.4}, log loss {:.4}, F1 {:.4}, {:.2}s, candidates {:?}",
                t.metrics.roc_auc,
                t.metrics.log_loss,
                t.metrics.f1,
                t.seconds,
                t.candidates.iter().map(|(a, m)| (a.clone(), (m.roc_auc * 1e4).round() / 1e4)).collect::<Vec<_>>()
            );
            if let Some(search) = &t.search {
                eprintln!("  search: {:.1}s, exhausted {}, chosen {}", search["seconds"], search["budget_exhausted"], search["chosen"]);
                for c in search["candidates"].as_array().into_iter().flatten() {
                    eprintln!(
                        "    {} folds {} cv AUC {:.4} log loss {:.4} {}",
                        c["algorithm"],
                        c["folds"],
                        c["cv_roc_auc"].as_f64().unwrap_or(f64::NAN),
                        c["cv_log_loss"].as_f64().unwrap_or(f64::NAN),
                        c["hyperparameters"]
                    );
                }
            }
        }
        // the forest alone on the training rows (feature fit, encoding, binning, 100 trees)
        let train_rows: Vec<usize> = (0..labels.len()).filter(|&i| !test[i]).collect();
        for threads in [0, 1] {
            let opts = TrainOptions::parse("random_forest", &serde_json::json!({})).unwrap();
            let opts = TrainOptions { forest: forest::ForestParams { threads, ..opts.forest.clone() }, ..opts };
            let started = Instant::now();
            let (_, predictor) = fit_on(Algorithm::RandomForest, &columns, &labels, &train_rows, &opts, &|| false).unwrap();
            let Predictor::Forest(f) = predictor else { unreachable!() };
            eprintln!(
                "random_forest fit on {} rows: {:.3}s with {} thread(s), {} nodes in {} trees",
                train_rows.len(),
                started.elapsed().as_secs_f64(),
                if threads == 0 { pool::max_threads() } else { threads },
                f.trees.iter().map(|t| t.nodes.len()).sum::<usize>(),
                f.trees.len()
            );
        }
    }
}
