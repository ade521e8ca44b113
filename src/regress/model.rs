//! A trained regressor as stored in the registry, and its training pipeline (pure Rust:
//! raw columns and a real target in, model and holdout metrics out). Feature preparation,
//! the holdout split and explanations are the classifier's.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::boosting::{self, BoostedRegressor};
use super::forest::{self, ForestRegressor};
use super::linear::{self, LinearRegressor};
use super::metrics::{self, RegressionMetrics};
use super::options::{RegressAlgorithm, RegressOptions, RegressionLoss};
use crate::classify::features::{Feature, FeatureSet, RawColumn, Value};
use crate::classify::model::{original_units, per_feature, stratified_split, Contribution};
use crate::error::{CrmError, Result};
use crate::pool;

/// Fewest rows `train` accepts: below this a holdout says nothing.
pub const MIN_ROWS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RegressionPredictor {
    Ridge(LinearRegressor),
    Boosting(BoostedRegressor),
    Forest(ForestRegressor),
}

impl RegressionPredictor {
    /// Whether the predictor can score encoded rows of `width` columns safely.
    fn validate(&self, width: usize) -> std::result::Result<(), String> {
        match self {
            RegressionPredictor::Ridge(m) if m.weights.len() != width => Err(format!("{} weights for {width} encoded columns", m.weights.len())),
            RegressionPredictor::Ridge(_) => Ok(()),
            RegressionPredictor::Boosting(m) => m.trees.iter().try_for_each(|t| t.validate(width)),
            RegressionPredictor::Forest(m) if m.trees.is_empty() => Err("a random forest without trees".into()),
            RegressionPredictor::Forest(m) => m.trees.iter().try_for_each(|t| t.validate(width)),
        }
    }

    fn predict(&self, x: &[f64]) -> f64 {
        match self {
            RegressionPredictor::Ridge(m) => m.predict(x),
            RegressionPredictor::Boosting(m) => m.predict(x),
            RegressionPredictor::Forest(m) => m.predict(x),
        }
    }

    /// (base, contributions per encoded column) adding up to the prediction on the link
    /// scale (the prediction itself but for log-link boosting, where it is its log).
    fn contributions(&self, x: &[f64], width: usize) -> (f64, Vec<f64>) {
        match self {
            RegressionPredictor::Ridge(m) => (m.intercept, m.weights.iter().zip(x).map(|(w, v)| w * v).collect()),
            RegressionPredictor::Boosting(m) => m.contributions(x, width),
            RegressionPredictor::Forest(m) => m.contributions(x, width),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regressor {
    pub features: FeatureSet,
    pub predictor: RegressionPredictor,
}

impl crate::registry::StoredModel for Regressor {
    const KIND: crate::registry::Kind = crate::registry::Kind::Regressor;

    fn validate(&self) -> std::result::Result<(), String> {
        self.features.validate()?;
        self.predictor.validate(self.features.width)
    }
}

impl Regressor {
    pub fn algorithm(&self) -> &'static str {
        match self.predictor {
            RegressionPredictor::Ridge(_) => "ridge",
            RegressionPredictor::Boosting(_) => "gradient_boosting",
            RegressionPredictor::Forest(_) => "random_forest",
        }
    }

    /// The prediction (on the target's scale) for an encoded row.
    pub fn predict_encoded(&self, x: &[f64]) -> f64 {
        self.predictor.predict(x)
    }

    /// Encodes a row of cells (one per feature, in `features` order; anything that yields
    /// a `Value`) into `buffer`.
    pub fn encode_cells<T>(&self, cells: &[T], buffer: &mut Vec<f64>)
    where
        for<'v> &'v T: Into<Value<'v>>,
    {
        self.features.encode_cells(cells, buffer)
    }

    pub fn predict(&self, values: &[Value<'_>], buffer: &mut Vec<f64>) -> f64 {
        self.encode_cells(values, buffer);
        self.predict_encoded(buffer)
    }

    /// Ridge in original units: (term, coefficient), the intercept first, so
    /// `b0 + Σ bᵢ·xᵢ` over raw columns (no NULLs) is the prediction. None for trees.
    pub fn coefficients(&self) -> Option<Vec<(String, f64)>> {
        let RegressionPredictor::Ridge(m) = &self.predictor else {
            return None;
        };
        Some(original_units(&self.features, &m.weights, m.intercept))
    }

    /// (base value, per-feature contributions): base + Σ contributions is the prediction
    /// on the link scale: the prediction itself, or its natural log for Poisson and
    /// Tweedie boosting (there contributions multiply the prediction by e^c). Ridge: exact
    /// (intercept, weight × encoded value); trees: Saabas path contributions, averaged over
    /// a forest's trees.
    pub fn explain(&self, values: &[Value<'_>]) -> (f64, Vec<Contribution>) {
        let mut x = Vec::new();
        self.encode_cells(values, &mut x);
        let (base, per_column) = self.predictor.contributions(&x, self.features.width);
        (base, per_feature(&self.features, &per_column))
    }
}

impl crate::lifecycle::Monitored for Regressor {
    fn feature_set(&self) -> &FeatureSet {
        &self.features
    }

    fn output_encoded(&self, x: &[f64]) -> f64 {
        self.predict_encoded(x)
    }

    fn explain(&self, values: &[Value<'_>]) -> (f64, Vec<f64>) {
        let (base, contributions) = Regressor::explain(self, values);
        (base, contributions.into_iter().map(|c| c.contribution).collect())
    }
}

/// What training produced: the final model, its holdout metrics and bookkeeping.
#[derive(Debug)]
pub struct Trained {
    pub regressor: Regressor,
    pub metrics: RegressionMetrics,
    /// Every algorithm tried: 'auto' scores them by 5-fold cross-validation on the
    /// training rows (out-of-fold metrics), a single algorithm on the holdout.
    pub candidates: Vec<(String, RegressionMetrics)>,
    pub training_rows: usize,
    pub holdout_rows: usize,
    /// The holdout rows (indexes into the training columns).
    pub holdout: Vec<usize>,
    pub seconds: f64,
}

fn fit_on(
    algorithm: RegressAlgorithm,
    columns: &[RawColumn],
    target: &[f64],
    rows: &[usize],
    options: &RegressOptions,
    should_stop: &dyn Fn() -> bool,
) -> Result<Regressor> {
    // As the classifier: columns fitted on the pool, except on few rows.
    let threads = if rows.len() < 50_000 { 1 } else { 0 };
    let fitted: Vec<Feature> =
        pool::map_ranges(columns.len(), 1, threads, should_stop, |c, _| Feature::fit(&columns[c.start], rows, options.max_levels, options.min_level_count))?;
    let features = FeatureSet::new(fitted);
    let x = features.encode_rows(columns, rows);
    let y: Vec<f64> = rows.iter().map(|&r| target[r]).collect();
    let w = vec![1.0; rows.len()];
    let width = features.width;
    let predictor = match algorithm {
        RegressAlgorithm::Ridge | RegressAlgorithm::Auto => RegressionPredictor::Ridge(linear::fit(&x, width, &y, &w, options.alpha, 0, should_stop)?),
        RegressAlgorithm::GradientBoosting => {
            let params = crate::classify::boosting::BoostingParams { seed: options.seed, ..options.boosting.clone() };
            RegressionPredictor::Boosting(boosting::fit(&x, width, &y, &w, &params, options.loss, should_stop)?)
        }
        RegressAlgorithm::RandomForest => {
            let params = crate::classify::forest::ForestParams { seed: options.seed, ..options.forest.clone() };
            RegressionPredictor::Forest(forest::fit(&x, width, &y, &w, &params, should_stop)?)
        }
    };
    Ok(Regressor { features, predictor })
}

/// How 'auto' ranks candidates, lower is better: holdout RMSE for squared error, holdout
/// mean Poisson deviance for the log-link losses (a candidate predicting 0 or below, where
/// the deviance is undefined, ranks last).
fn score(m: &RegressionMetrics, loss: RegressionLoss) -> f64 {
    let s = match loss {
        RegressionLoss::SquaredError => m.rmse,
        _ => m.poisson_deviance.unwrap_or(f64::INFINITY),
    };
    if s.is_nan() {
        f64::INFINITY
    } else {
        s
    }
}

/// Checks the target: every value finite, and ≥ 0 for the Poisson and Tweedie losses.
fn check_target(target: &[f64], loss: RegressionLoss) -> Result<()> {
    if let Some(row) = target.iter().position(|v| !v.is_finite()) {
        return Err(CrmError::InvalidArgument(format!(
            "the target holds a value that is not a finite number (row {}: {}): NULL, NaN and infinite targets cannot be learned from",
            row + 1,
            target[row]
        )));
    }
    if loss.needs_non_negative_target() {
        if let Some(row) = target.iter().position(|&v| v < 0.0) {
            return Err(CrmError::InvalidArgument(format!(
                "options.loss '{}' needs a target ≥ 0, but row {} holds {}: use 'squared_error' or shift the target",
                loss.name(),
                row + 1,
                target[row]
            )));
        }
    }
    Ok(())
}

/// Trains, evaluates on the holdout (`test_mask`, or a seeded random `test_fraction`),
/// and (unless `refit` is off) refits the chosen algorithm on all rows. 'auto' fits ridge,
/// gradient boosting (with the chosen loss) and random forest by 5-fold cross-validation
/// on the training rows and keeps the simplest within one standard error of the best
/// `score`. `should_stop` is polled on this thread throughout; when it answers true
/// training ends with `CrmError::Canceled`.
pub fn train(columns: &[RawColumn], target: &[f64], test_mask: Option<&[bool]>, options: &RegressOptions, should_stop: &dyn Fn() -> bool) -> Result<Trained> {
    let started = Instant::now();
    let n = target.len();
    if n < MIN_ROWS {
        return Err(CrmError::InvalidArgument(format!("train_regressor needs at least {MIN_ROWS} rows with a target; there are {n}")));
    }
    check_target(target, options.loss)?;
    let (train_rows, test_rows) = match test_mask {
        Some(mask) if mask.len() != n => {
            return Err(CrmError::InvalidArgument(format!("the holdout mask has {} rows for {n} targets", mask.len())));
        }
        Some(mask) => ((0..n).filter(|&i| !mask[i]).collect::<Vec<_>>(), (0..n).filter(|&i| mask[i]).collect::<Vec<_>>()),
        // One class: a seeded shuffle of all rows, the classifier's draws.
        None => stratified_split(&vec![false; n], options.test_fraction, options.seed),
    };
    if train_rows.is_empty() || test_rows.is_empty() {
        return Err(CrmError::InvalidArgument(format!(
            "the split leaves {} training and {} holdout rows: both need rows (check options.split or options.test_fraction)",
            train_rows.len(),
            test_rows.len()
        )));
    }
    let candidates_to_try: Vec<RegressAlgorithm> = match options.algorithm {
        RegressAlgorithm::Auto => {
            let mut all = vec![RegressAlgorithm::Ridge];
            // boosting refuses fewer rows than two leaves hold: 'auto' goes on without it
            if train_rows.len() >= 2 * options.boosting.min_samples_leaf {
                all.push(RegressAlgorithm::GradientBoosting);
            }
            all.push(RegressAlgorithm::RandomForest);
            all
        }
        a => vec![a],
    };
    let metrics_on = |model: &Regressor, rows: &[usize]| {
        let x = model.features.encode_rows(columns, rows);
        let width = model.features.width;
        let p: Vec<f64> = (0..rows.len()).map(|i| model.predict_encoded(&x[i * width..(i + 1) * width])).collect();
        let y: Vec<f64> = rows.iter().map(|&r| target[r]).collect();
        metrics::evaluate(&p, &y)
    };
    // 'auto' chooses by 5-fold cross-validation on the training rows, never on the
    // holdout, with the one-standard-error rule: the simplest algorithm (ridge, then
    // boosting, then the forest) whose mean fold score is within one standard error of the
    // best one's. Spend and order targets are heavy-tailed: on a validation slice the
    // three are often within noise of each other (CDNOW: 109.6 / 109.9 / 110.1), and the
    // simpler model generalises at least as well there.
    let mut candidates = Vec::new();
    let (algorithm, metrics, regressor) = if candidates_to_try.len() > 1 {
        const FOLDS: usize = 5;
        let mut rng = crate::rng::SplitMix64::new(options.seed ^ 0x5A11_DA7E);
        let mut order: Vec<usize> = (0..train_rows.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below_modulo(i + 1));
        }
        let fold_of: Vec<usize> = {
            let mut f = vec![0; train_rows.len()];
            for (j, &i) in order.iter().enumerate() {
                f[i] = j % FOLDS;
            }
            f
        };
        // (algorithm, mean fold score, standard error, out-of-fold metrics)
        let mut scored: Vec<(RegressAlgorithm, f64, f64)> = Vec::new();
        'algorithms: for algorithm in candidates_to_try {
            let mut out_of_fold = vec![0.0; train_rows.len()];
            let mut fold_scores = Vec::with_capacity(FOLDS);
            for f in 0..FOLDS {
                let fit_rows: Vec<usize> = (0..train_rows.len()).filter(|&i| fold_of[i] != f).map(|i| train_rows[i]).collect();
                let held: Vec<usize> = (0..train_rows.len()).filter(|&i| fold_of[i] == f).collect();
                let held_rows: Vec<usize> = held.iter().map(|&i| train_rows[i]).collect();
                let model = match fit_on(algorithm, columns, target, &fit_rows, options, should_stop) {
                    Ok(m) => m,
                    // boosting refuses fewer rows than two leaves hold: the others go on
                    Err(e) if e.sqlstate() == "22023" && algorithm == RegressAlgorithm::GradientBoosting => continue 'algorithms,
                    Err(e) => return Err(e),
                };
                let x = model.features.encode_rows(columns, &held_rows);
                let width = model.features.width;
                let p: Vec<f64> = (0..held_rows.len()).map(|j| model.predict_encoded(&x[j * width..(j + 1) * width])).collect();
                let y: Vec<f64> = held_rows.iter().map(|&r| target[r]).collect();
                fold_scores.push(score(&metrics::evaluate(&p, &y), options.loss));
                for (&i, &v) in held.iter().zip(&p) {
                    out_of_fold[i] = v;
                }
            }
            let y: Vec<f64> = train_rows.iter().map(|&r| target[r]).collect();
            let name = match algorithm {
                RegressAlgorithm::Ridge => "ridge",
                RegressAlgorithm::GradientBoosting => "gradient_boosting",
                _ => "random_forest",
            };
            candidates.push((name.to_string(), metrics::evaluate(&out_of_fold, &y)));
            let n = fold_scores.len() as f64;
            let mean = fold_scores.iter().sum::<f64>() / n;
            let se = (fold_scores.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
            scored.push((algorithm, mean, if se.is_finite() { se } else { 0.0 }));
        }
        let best = scored.iter().filter(|s| s.1.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1));
        let algorithm = match best {
            // candidates_to_try is in order of simplicity
            Some(&(_, mean, se)) => scored.iter().find(|s| s.1 <= mean + se).map(|s| s.0).unwrap_or(RegressAlgorithm::Ridge),
            None => return Err(CrmError::InvalidArgument("no algorithm could be trained on these rows".into())),
        };
        let model = fit_on(algorithm, columns, target, &train_rows, options, should_stop)?;
        (algorithm, metrics_on(&model, &test_rows), model)
    } else {
        let algorithm = candidates_to_try[0];
        let model = fit_on(algorithm, columns, target, &train_rows, options, should_stop)?;
        let m = metrics_on(&model, &test_rows);
        candidates.push((model.algorithm().to_string(), m.clone()));
        (algorithm, m, model)
    };
    let regressor = if options.refit {
        let all: Vec<usize> = (0..n).collect();
        fit_on(algorithm, columns, target, &all, options, should_stop)?
    } else {
        regressor
    };
    Ok(Trained {
        regressor,
        metrics,
        candidates,
        training_rows: train_rows.len(),
        holdout_rows: test_rows.len(),
        holdout: test_rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::features::ValueKind;
    use crate::classify::tree::Tree;
    use crate::registry::{decode_model, encode, Kind};
    use crate::rng::SplitMix64;
    use serde_json::json;

    /// spend = 20 + 3·visits + 15·[plan = 'pro'] + 25·[visits > 5 and tenure < 12] + noise;
    /// visits NULL every 40th row.
    fn customers(n: usize, seed: u64) -> (Vec<RawColumn>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut visits, mut tenure, mut plan, mut spend) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let (v, t, p) = (rng.next_f64() * 10.0, rng.next_f64() * 36.0, rng.below_modulo(3) as u32);
            visits.push(if i % 40 == 0 { f64::NAN } else { v });
            tenure.push(t);
            plan.push(p);
            spend.push(20.0 + 3.0 * v + if p == 1 { 15.0 } else { 0.0 } + if v > 5.0 && t < 12.0 { 25.0 } else { 0.0 } + 4.0 * (rng.next_f64() - 0.5));
        }
        let columns = vec![
            RawColumn::Numbers { name: "visits".into(), kind: ValueKind::Number, values: visits },
            RawColumn::Numbers { name: "tenure".into(), kind: ValueKind::Number, values: tenure },
            RawColumn::Categories { name: "plan".into(), codes: plan, levels: vec!["basic".into(), "pro".into(), "team".into()] },
        ];
        (columns, spend)
    }

    fn rows() -> [[Value<'static>; 3]; 3] {
        [
            [Value::Number(8.0), Value::Number(3.0), Value::Text("pro")],
            [Value::Null, Value::Number(30.0), Value::Text("never seen")],
            [Value::Number(1.0), Value::Null, Value::Null],
        ]
    }

    fn explains_exactly(r: &Regressor, log_link: bool) {
        let mut buf = Vec::new();
        for values in rows() {
            let p = r.predict(&values, &mut buf);
            let (base, c) = r.explain(&values);
            assert_eq!(c.len(), 3);
            let total = base + c.iter().map(|c| c.contribution).sum::<f64>();
            let on_link = if log_link { p.ln() } else { p };
            assert!((total - on_link).abs() < 1e-9 * (1.0 + on_link.abs()), "{}: {total} vs {on_link}", r.algorithm());
        }
    }

    #[test]
    fn auto_trains_all_three_and_keeps_the_best() {
        let (columns, spend) = customers(3000, 1);
        let opts = RegressOptions { forest: crate::classify::forest::ForestParams { n_trees: 30, ..RegressOptions::default().forest }, ..Default::default() };
        let t = train(&columns, &spend, None, &opts, &|| false).unwrap();
        let names: Vec<&str> = t.candidates.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["ridge", "gradient_boosting", "random_forest"]);
        assert_eq!((t.training_rows, t.holdout_rows), (2400, 600));
        // chosen by cross-validation on the training rows: the out-of-fold RMSE of the kept
        // algorithm is within a few per cent of the best (the one-standard-error rule)
        let best = t.candidates.iter().map(|c| c.1.rmse).fold(f64::INFINITY, f64::min);
        let kept = t.candidates.iter().find(|c| c.0 == t.regressor.algorithm()).unwrap();
        assert!(kept.1.rmse <= best * 1.1, "{:?}", t.candidates);
        // the interaction makes a tree model win, and it is well fitted
        assert_ne!(t.regressor.algorithm(), "ridge");
        assert!(t.metrics.r2 > 0.9, "{:?}", t.metrics);
        explains_exactly(&t.regressor, false);
        // the stored bytes give the same model back
        let bytes = encode(Kind::Regressor, &t.regressor).unwrap();
        assert_eq!(decode_model::<Regressor>(&bytes, "m").unwrap(), t.regressor);
        assert_eq!(decode_model::<crate::classify::model::Classifier>(&bytes, "m").unwrap_err().sqlstate(), "22023", "not a classifier");
    }

    #[test]
    fn ridge_coefficients_in_original_units() {
        let (columns, spend) = customers(2000, 2);
        let t = train(&columns, &spend, None, &RegressOptions::parse("linear", &json!({"alpha": 0.01})).unwrap(), &|| false).unwrap();
        assert_eq!(t.regressor.algorithm(), "ridge");
        explains_exactly(&t.regressor, false);
        let coef = t.regressor.coefficients().unwrap();
        let get = |n: &str| coef.iter().find(|(k, _)| k == n).map(|(_, v)| *v).unwrap();
        // 3 per visit plus a share of the interaction's 25 (visits > 5)
        assert!((3.0..6.0).contains(&get("visits")), "{coef:?}");
        assert!((get("plan=pro") - get("plan=basic") - 15.0).abs() < 1.5, "{coef:?}");
        let mut buf = Vec::new();
        let values = [Value::Number(8.0), Value::Number(3.0), Value::Text("pro")];
        let by_hand = get("(intercept)") + get("visits") * 8.0 + get("tenure") * 3.0 + get("plan=pro") + get("visits is null") * 0.0;
        assert!((by_hand - t.regressor.predict(&values, &mut buf)).abs() < 1e-9);
        // NULL visits: the median imputed, and the indicator's own term
        assert!(coef.iter().any(|(k, _)| k == "visits is null"));
        assert!(t.regressor.coefficients().is_some());
    }

    #[test]
    fn poisson_and_tweedie_explain_on_the_log_scale_and_need_non_negative_targets() {
        let mut rng = SplitMix64::new(3);
        let (columns, _) = customers(2000, 3);
        let RawColumn::Numbers { values: visits, .. } = &columns[0] else { unreachable!() };
        // orders ~ a count rising with visits, many zeros
        let orders: Vec<f64> = visits
            .iter()
            .map(|v| {
                let mu = (-1.0 + 0.25 * if v.is_finite() { *v } else { 5.0 }).exp();
                let (limit, mut k, mut prod) = ((-mu).exp(), 0.0, rng.next_f64());
                while prod > limit {
                    k += 1.0;
                    prod *= rng.next_f64();
                }
                k
            })
            .collect();
        for loss in ["poisson", "tweedie"] {
            let opts = RegressOptions::parse("auto", &json!({"loss": loss, "n_trees": 20})).unwrap();
            let t = train(&columns, &orders, None, &opts, &|| false).unwrap();
            assert!(t.metrics.poisson_deviance.is_some(), "{loss}: the winner predicts positive counts");
            let deviance = |m: &RegressionMetrics| m.poisson_deviance.unwrap_or(f64::INFINITY);
            let best = t.candidates.iter().map(|c| deviance(&c.1)).fold(f64::INFINITY, f64::min);
            let kept = t.candidates.iter().find(|c| c.0 == t.regressor.algorithm()).unwrap();
            assert!(deviance(&kept.1) <= best * 1.2, "{loss}: chosen by cross-validated deviance: {:?}", t.candidates);
            let boosted = train(&columns, &orders, None, &RegressOptions::parse("gradient_boosting", &json!({"loss": loss})).unwrap(), &|| false).unwrap();
            explains_exactly(&boosted.regressor, true);
            let RegressionPredictor::Boosting(b) = &boosted.regressor.predictor else { panic!("not boosting") };
            assert_eq!(b.link, boosting::Link::Log);
            let bytes = encode(Kind::Regressor, &boosted.regressor).unwrap();
            assert_eq!(decode_model::<Regressor>(&bytes, "m").unwrap(), boosted.regressor);
        }
        let mut negative = orders.clone();
        negative[7] = -1.0;
        let e = train(&columns, &negative, None, &RegressOptions::parse("auto", &json!({"loss": "poisson"})).unwrap(), &|| false).unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.message().contains("options.loss") && e.message().contains("row 8"), "{e}");
        // squared error takes negative targets
        assert!(train(&columns, &negative, None, &RegressOptions::parse("linear", &json!({})).unwrap(), &|| false).is_ok());
    }

    #[test]
    fn bad_inputs_are_22023_and_cancel_is_57014() {
        let (columns, spend) = customers(200, 4);
        let opts = RegressOptions::parse("auto", &json!({"n_trees": 5})).unwrap();
        let head = |k: usize| -> Vec<RawColumn> {
            columns
                .iter()
                .map(|c| match c {
                    RawColumn::Numbers { name, kind, values } => RawColumn::Numbers { name: name.clone(), kind: *kind, values: values[..k].to_vec() },
                    RawColumn::Categories { name, codes, levels } => {
                        RawColumn::Categories { name: name.clone(), codes: codes[..k].to_vec(), levels: levels.clone() }
                    }
                })
                .collect()
        };
        let e = train(&head(19), &spend[..19], None, &opts, &|| false).unwrap_err();
        assert!(e.sqlstate() == "22023" && e.message().contains("20 rows"), "{e}");
        let mut bad = spend.clone();
        bad[3] = f64::NAN;
        let e = train(&columns, &bad, None, &opts, &|| false).unwrap_err();
        assert!(e.sqlstate() == "22023" && e.message().contains("target") && e.message().contains("row 4"), "{e}");
        bad[3] = f64::INFINITY;
        assert_eq!(train(&columns, &bad, None, &opts, &|| false).unwrap_err().sqlstate(), "22023");
        let all_train = vec![false; spend.len()];
        assert_eq!(train(&columns, &spend, Some(&all_train), &opts, &|| false).unwrap_err().sqlstate(), "22023");
        // 20 rows are enough: 'auto' goes on without boosting (too few rows for two leaves),
        // which alone says so
        let t = train(&head(20), &spend[..20], None, &opts, &|| false).unwrap();
        let names: Vec<&str> = t.candidates.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["ridge", "random_forest"]);
        let e = train(&head(20), &spend[..20], None, &RegressOptions::parse("gradient_boosting", &json!({})).unwrap(), &|| false).unwrap_err();
        assert!(e.sqlstate() == "22023" && e.message().contains("at least 40 rows"), "{e}");
        for algorithm in ["auto", "linear", "gradient_boosting", "random_forest"] {
            let e = train(&columns, &spend, None, &RegressOptions::parse(algorithm, &json!({})).unwrap(), &|| true).unwrap_err();
            assert_eq!(e.sqlstate(), "57014", "{algorithm}: {e}");
        }
    }

    #[test]
    fn a_seed_gives_one_model_whatever_the_threads_and_a_mask_is_the_holdout() {
        let (columns, spend) = customers(1500, 5);
        let p = RegressOptions::parse("random_forest", &json!({"n_trees": 8, "seed": 3})).unwrap();
        let with = |threads: usize| RegressOptions { forest: crate::classify::forest::ForestParams { threads, ..p.forest.clone() }, ..p.clone() };
        let one = train(&columns, &spend, None, &with(1), &|| false).unwrap();
        let three = train(&columns, &spend, None, &with(3), &|| false).unwrap();
        assert_eq!(one.regressor, three.regressor);
        assert_eq!(one.metrics, three.metrics);
        let other = train(&columns, &spend, None, &RegressOptions { seed: 4, ..with(1) }, &|| false).unwrap();
        assert_ne!(one.regressor, other.regressor);
        let mask: Vec<bool> = (0..spend.len()).map(|i| i % 3 == 0).collect();
        let masked = train(&columns, &spend, Some(&mask), &RegressOptions { refit: false, ..with(1) }, &|| false).unwrap();
        assert_eq!((masked.training_rows, masked.holdout_rows), (1000, 500));
    }

    #[test]
    fn corrupted_stored_models_are_rejected_with_xx001() {
        let (columns, spend) = customers(1000, 6);
        let forest = train(&columns, &spend, None, &RegressOptions::parse("random_forest", &json!({"n_trees": 3})).unwrap(), &|| false).unwrap();
        let boosted = train(&columns, &spend, None, &RegressOptions::parse("gradient_boosting", &json!({"max_trees": 5})).unwrap(), &|| false).unwrap();
        let ridge = train(&columns, &spend, None, &RegressOptions::parse("ridge", &json!({})).unwrap(), &|| false).unwrap();
        let rejected = |r: &Regressor| {
            let Err(err) = decode_model::<Regressor>(&encode(Kind::Regressor, r).unwrap(), "model \"x\" version 1") else {
                panic!("a broken model was accepted");
            };
            assert_eq!(err.sqlstate(), "XX001", "{err}");
            assert!(err.message().contains("model \"x\" version 1"), "{err}");
        };
        fn first_tree(r: &mut Regressor) -> &mut Tree {
            match &mut r.predictor {
                RegressionPredictor::Boosting(b) => &mut b.trees[0],
                RegressionPredictor::Forest(f) => &mut f.trees[0],
                RegressionPredictor::Ridge(_) => unreachable!(),
            }
        }
        for model in [&forest.regressor, &boosted.regressor] {
            assert!(decode_model::<Regressor>(&encode(Kind::Regressor, model).unwrap(), "m").is_ok());
            for broken in 0..4 {
                let mut r = model.clone();
                let tree = first_tree(&mut r);
                let i = (1..tree.nodes.len()).find(|&k| tree.nodes[k].left != 0).expect("a split below the root");
                let n = tree.nodes.len() as u32;
                match broken {
                    0 => tree.nodes[i].left = i as u32,  // a cycle
                    1 => tree.nodes[i].right = n + 7,    // a child outside the tree
                    2 => tree.nodes[i].feature = 10_000, // a column outside the row
                    _ => tree.nodes.clear(),             // no root
                }
                rejected(&r);
            }
        }
        let mut empty = forest.regressor.clone();
        empty.predictor = RegressionPredictor::Forest(ForestRegressor { trees: Vec::new() });
        rejected(&empty);
        let mut short = ridge.regressor.clone();
        if let RegressionPredictor::Ridge(m) = &mut short.predictor {
            m.weights.pop();
        }
        rejected(&short);
        let mut offsets = ridge.regressor.clone();
        offsets.features.width += 3;
        rejected(&offsets);
    }
}
