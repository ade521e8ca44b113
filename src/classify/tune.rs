//! Hyperparameter search within a time budget, by cross-validation on the training rows
//! (the holdout is never looked at): successive halving over a seeded list of
//! configurations. The defaults are scored on every fold first (the incumbent exists
//! before anything else runs); rung 0 scores every other configuration on the first fold;
//! rung 1 scores the best third (and the best of each algorithm) on the remaining folds.
//! Only configurations scored on every fold compete, the averaged log-odds of the best
//! (and of the default) boosting and forest configurations — ensembles — included; a
//! challenger replaces the incumbent only when it is better by more than one standard
//! error (see `search`). Deterministic for a seed until the budget runs out; then what
//! was completed decides, and the report says so.

use std::time::Instant;

use serde_json::{json, Value};

use super::features::RawColumn;
use super::forest::MaxFeatures;
use super::logistic::sigmoid;
use super::metrics;
use super::model::{fit_on, Classifier};
use super::options::{Algorithm, TrainOptions};
use crate::error::Result;
use crate::rng::SplitMix64;

/// One configuration: an algorithm and the options it is fitted with.
#[derive(Clone)]
pub struct Candidate {
    pub algorithm: Algorithm,
    pub options: TrainOptions,
    /// The hyperparameters that differ between candidates, for the report.
    pub describe: Value,
    /// Whether this is an algorithm with its default hyperparameters.
    pub default: bool,
}

/// What the search found.
pub struct Search {
    /// The configuration to fit (None when the budget ended before any was scored).
    pub chosen: Option<Candidate>,
    /// Out-of-fold log-odds of the chosen configuration for every training row (indexed
    /// like the training rows), when it was scored on every fold.
    pub out_of_fold: Option<Vec<f64>>,
    /// Every candidate scored: its configuration, folds, mean ROC AUC and log loss.
    pub report: Vec<Value>,
    pub folds: usize,
    pub exhausted: bool,
    pub seconds: f64,
}

/// Stratified folds of `rows` (positions into `rows`), seeded.
pub fn stratified_folds(labels: &[bool], rows: &[usize], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64::new(seed ^ 0xF01D_5EED);
    let mut folds = vec![Vec::new(); k];
    for class in [false, true] {
        let mut members: Vec<usize> = (0..rows.len()).filter(|&i| labels[rows[i]] == class).collect();
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below_modulo(i + 1));
        }
        for (j, &m) in members.iter().enumerate() {
            folds[j % k].push(m);
        }
    }
    folds.iter_mut().for_each(|f| f.sort_unstable());
    folds
}

fn pick<T: Copy>(rng: &mut SplitMix64, values: &[T]) -> T {
    values[rng.below_modulo(values.len())]
}

/// The configurations to try for `options.algorithm`, defaults first.
pub fn candidates(options: &TrainOptions) -> Vec<Candidate> {
    let base = TrainOptions { time_budget: Some(0.0), calibration: super::calibration::Method::None, ..options.clone() };
    let mut rng = SplitMix64::new(options.seed ^ 0x7E57_CA5E);
    let boosting = |o: &TrainOptions| {
        let b = &o.boosting;
        json!({"learning_rate": b.learning_rate, "max_trees": b.max_iter, "max_leaves": b.max_leaves, "min_samples_leaf": b.min_samples_leaf,
               "l2_regularization": b.l2, "feature_fraction": b.feature_fraction, "subsample": b.subsample})
    };
    let forest = |o: &TrainOptions| {
        let f = &o.forest;
        json!({"n_trees": f.n_trees, "max_features": f.max_features.to_json(), "min_samples_leaf": f.min_samples_leaf})
    };
    let (gb, rf, lr) = match options.algorithm {
        Algorithm::Auto => (true, true, true),
        Algorithm::GradientBoosting => (true, false, false),
        Algorithm::RandomForest => (false, true, false),
        Algorithm::Ensemble => (true, true, false),
        Algorithm::Logistic => (false, false, true),
    };
    let mut out = Vec::new();
    if lr {
        out.push(Candidate { algorithm: Algorithm::Logistic, options: base.clone(), describe: json!({"C": base.c}), default: true });
    }
    if gb {
        out.push(Candidate { algorithm: Algorithm::GradientBoosting, options: base.clone(), describe: boosting(&base), default: true });
    }
    if rf {
        out.push(Candidate { algorithm: Algorithm::RandomForest, options: base.clone(), describe: forest(&base), default: true });
    }
    if gb {
        // (learning rate, trees): a slower rate gets more trees; below 10,000 rows there
        // is no early stopping, so the count is what is grown.
        let schedules = [(0.2, 60), (0.1, 100), (0.1, 200), (0.05, 200), (0.05, 400), (0.03, 500)];
        for _ in 0..8 {
            let mut o = base.clone();
            let (rate, trees) = pick(&mut rng, &schedules);
            o.boosting.learning_rate = rate;
            o.boosting.max_iter = trees;
            o.boosting.small_data_trees = trees;
            o.boosting.max_leaves = pick(&mut rng, &[7, 15, 31, 63]);
            o.boosting.min_samples_leaf = pick(&mut rng, &[5, 10, 20, 40]);
            o.boosting.l2 = pick(&mut rng, &[0.0, 0.1, 1.0, 10.0]);
            o.boosting.feature_fraction = pick(&mut rng, &[0.5, 0.8, 1.0]);
            o.boosting.subsample = pick(&mut rng, &[0.7, 0.85, 1.0]);
            out.push(Candidate { algorithm: Algorithm::GradientBoosting, describe: boosting(&o), options: o, default: false });
        }
    }
    if rf {
        for _ in 0..4 {
            let mut o = base.clone();
            o.forest.max_features = pick(&mut rng, &[MaxFeatures::Sqrt, MaxFeatures::Fraction(0.3), MaxFeatures::Fraction(0.5)]);
            o.forest.min_samples_leaf = pick(&mut rng, &[1, 2, 5]);
            o.forest.n_trees = pick(&mut rng, &[100, 200]);
            out.push(Candidate { algorithm: Algorithm::RandomForest, describe: forest(&o), options: o, default: false });
        }
    }
    if lr {
        for c in [0.1, 10.0] {
            let o = TrainOptions { c, ..base.clone() };
            out.push(Candidate { algorithm: Algorithm::Logistic, describe: json!({"C": c}), options: o, default: false });
        }
    }
    out
}

struct Scored {
    candidate: Candidate,
    /// Per fold: the out-of-fold log-odds, None until scored.
    log_odds: Vec<Option<Vec<f64>>>,
}

impl Scored {
    fn folds_done(&self) -> usize {
        self.log_odds.iter().filter(|f| f.is_some()).count()
    }
}

/// Mean ROC AUC and log loss over the scored folds.
fn fold_scores(log_odds: &[Option<Vec<f64>>], folds: &[Vec<usize>], y: &[bool]) -> (f64, f64, usize) {
    let (mut auc, mut loss, mut k) = (0.0, 0.0, 0);
    for (fold, z) in folds.iter().zip(log_odds) {
        let Some(z) = z else { continue };
        let p: Vec<f64> = z.iter().map(|&v| sigmoid(v)).collect();
        let labels: Vec<bool> = fold.iter().map(|&i| y[i]).collect();
        let m = metrics::evaluate(&p, &labels);
        auc += m.roc_auc;
        loss += m.log_loss;
        k += 1;
    }
    let n = k.max(1) as f64;
    (auc / n, loss / n, k)
}

/// Runs the search on `train_rows` until `deadline`.
pub fn search(
    columns: &[RawColumn],
    labels: &[bool],
    train_rows: &[usize],
    options: &TrainOptions,
    deadline: Instant,
    should_stop: &dyn Fn() -> bool,
) -> Result<Search> {
    let started = Instant::now();
    let k = options.cv_folds.max(2);
    let folds = stratified_folds(labels, train_rows, k, options.seed);
    let y: Vec<bool> = train_rows.iter().map(|&r| labels[r]).collect();
    let mut scored: Vec<Scored> = candidates(options).into_iter().map(|candidate| Scored { candidate, log_odds: vec![None; k] }).collect();
    let mut exhausted = false;
    let score = |c: &Candidate, f: usize| fold_log_odds(c, columns, labels, train_rows, &folds, f, should_stop);
    let fit_error = |e: crate::error::CrmError| -> Result<Option<Vec<f64>>> {
        // a configuration the data cannot take (too few rows for its leaves) is skipped;
        // a cancel ends the search
        if e.sqlstate() == "57014" {
            Err(e)
        } else {
            Ok(None)
        }
    };
    // the defaults first, on every fold: the incumbent a configuration must beat exists
    // before the budget goes to the others
    'defaults: for s in scored.iter_mut().filter(|s| s.candidate.default) {
        for f in 0..k {
            if Instant::now() >= deadline {
                exhausted = true;
                break 'defaults;
            }
            match score(&s.candidate, f).map(Some).or_else(fit_error)? {
                Some(z) => s.log_odds[f] = Some(z),
                None => continue 'defaults,
            }
        }
    }
    // rung 0: every other candidate on the first fold
    for s in scored.iter_mut().filter(|s| !s.candidate.default) {
        if Instant::now() >= deadline {
            exhausted = true;
            break;
        }
        s.log_odds[0] = score(&s.candidate, 0).map(Some).or_else(fit_error)?;
    }
    // rung 1: the best third and the best of each algorithm, on the other folds
    let mut order: Vec<usize> = (0..scored.len()).filter(|&i| scored[i].folds_done() == 1 && !scored[i].candidate.default).collect();
    order.sort_by(|&a, &b| fold_scores(&scored[b].log_odds, &folds, &y).0.total_cmp(&fold_scores(&scored[a].log_odds, &folds, &y).0).then(a.cmp(&b)));
    let keep = (order.len().div_ceil(3)).max(3).min(order.len());
    let mut promoted: Vec<usize> = order[..keep].to_vec();
    for algorithm in [Algorithm::Logistic, Algorithm::GradientBoosting, Algorithm::RandomForest] {
        if let Some(&best) = order.iter().find(|&&i| scored[i].candidate.algorithm == algorithm) {
            if !promoted.contains(&best) {
                promoted.push(best);
            }
        }
    }
    'rung: for &i in &promoted {
        for f in 1..k {
            if Instant::now() >= deadline {
                exhausted = true;
                break 'rung;
            }
            match score(&scored[i].candidate, f).map(Some).or_else(fit_error)? {
                Some(z) => scored[i].log_odds[f] = Some(z),
                None => continue 'rung,
            }
        }
    }
    // ensembles of the best full boosting and forest configurations and of the default
    // ones, from their folds
    let complete = |i: &usize| scored[*i].folds_done() == k;
    let best_of = |algorithm: Algorithm, defaults_only: bool| {
        (0..scored.len())
            .filter(complete)
            .filter(|&i| scored[i].candidate.algorithm == algorithm && (!defaults_only || scored[i].candidate.default))
            .max_by(|&a, &b| fold_scores(&scored[a].log_odds, &folds, &y).0.total_cmp(&fold_scores(&scored[b].log_odds, &folds, &y).0).then(b.cmp(&a)))
    };
    if matches!(options.algorithm, Algorithm::Auto | Algorithm::Ensemble) {
        let mut pairs = Vec::new();
        for defaults_only in [true, false] {
            if let (Some(g), Some(r)) = (best_of(Algorithm::GradientBoosting, defaults_only), best_of(Algorithm::RandomForest, defaults_only)) {
                if !pairs.contains(&(g, r)) {
                    pairs.push((g, r));
                }
            }
        }
        for (g, r) in pairs {
            let averaged: Vec<Option<Vec<f64>>> = (0..k)
                .map(|f| {
                    let (a, b) = (scored[g].log_odds[f].as_ref()?, scored[r].log_odds[f].as_ref()?);
                    Some(a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect())
                })
                .collect();
            let mut options = scored[g].candidate.options.clone();
            options.forest = scored[r].candidate.options.forest.clone();
            let describe = json!({"gradient_boosting": scored[g].candidate.describe, "random_forest": scored[r].candidate.describe});
            let default = scored[g].candidate.default && scored[r].candidate.default;
            scored.push(Scored { candidate: Candidate { algorithm: Algorithm::Ensemble, options, describe, default }, log_odds: averaged });
        }
    }
    // Only configurations scored on every fold compete: one fold is too noisy to choose
    // on (when the budget ends before any is complete, the caller falls back to the
    // holdout comparison of the defaults).
    let eligible: Vec<&Scored> =
        scored.iter().filter(|s| s.folds_done() == k && (options.algorithm != Algorithm::Ensemble || s.candidate.algorithm == Algorithm::Ensemble)).collect();
    let by_score = |a: &&&Scored, b: &&&Scored| {
        let (sa, sb) = (fold_scores(&a.log_odds, &folds, &y), fold_scores(&b.log_odds, &folds, &y));
        sa.0.total_cmp(&sb.0).then(sb.1.total_cmp(&sa.1))
    };
    // One-standard-error rule against an incumbent: on a few thousand rows the fold
    // scores of configurations differ by less than their noise, and the best of twenty
    // noisy scores is optimistic. The incumbent is the default ensemble for 'auto' (the
    // averaged boosting and forest usually rank best, see `Predictor::Ensemble`), else
    // the best default configuration; another configuration replaces it only when its
    // mean fold AUC is higher by more than the standard error of the per-fold
    // differences (the best such one).
    let fold_auc = |s: &Scored, f: usize| -> Option<f64> {
        let z = s.log_odds[f].as_ref()?;
        let p: Vec<f64> = z.iter().map(|&v| sigmoid(v)).collect();
        let labels: Vec<bool> = folds[f].iter().map(|&i| y[i]).collect();
        Some(metrics::roc_auc(&p, &labels))
    };
    let beats = |challenger: &Scored, incumbent: &Scored| -> bool {
        let diffs: Vec<f64> = (0..k).filter_map(|f| Some(fold_auc(challenger, f)? - fold_auc(incumbent, f)?)).collect();
        let n = diffs.len() as f64;
        if n < 2.0 {
            return false;
        }
        let mean = diffs.iter().sum::<f64>() / n;
        let se = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        mean > se
    };
    let incumbent = eligible
        .iter()
        .filter(|s| s.candidate.default && s.candidate.algorithm == Algorithm::Ensemble)
        .max_by(by_score)
        .or_else(|| eligible.iter().filter(|s| s.candidate.default).max_by(by_score));
    let chosen: Option<&Scored> = match incumbent {
        Some(&incumbent) => {
            let challenger = eligible.iter().filter(|s| !std::ptr::eq(**s, incumbent) && beats(s, incumbent)).max_by(by_score);
            Some(challenger.copied().unwrap_or(incumbent))
        }
        None => eligible.iter().max_by(by_score).copied(),
    };
    let out_of_fold = chosen.filter(|s| s.folds_done() == k).map(|s| {
        let mut z = vec![0.0; train_rows.len()];
        for (fold, values) in folds.iter().zip(&s.log_odds) {
            for (&i, &v) in fold.iter().zip(values.iter().flatten()) {
                z[i] = v;
            }
        }
        z
    });
    let report = scored
        .iter()
        .filter(|s| s.folds_done() > 0)
        .map(|s| {
            let (auc, loss, n) = fold_scores(&s.log_odds, &folds, &y);
            json!({"algorithm": algorithm_name(s.candidate.algorithm), "default": s.candidate.default, "hyperparameters": s.candidate.describe,
                   "folds": n, "cv_roc_auc": auc, "cv_log_loss": loss})
        })
        .collect();
    Ok(Search { chosen: chosen.map(|s| s.candidate.clone()), out_of_fold, report, folds: k, exhausted, seconds: started.elapsed().as_secs_f64() })
}

pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Logistic | Algorithm::Auto => "logistic",
        Algorithm::GradientBoosting => "gradient_boosting",
        Algorithm::RandomForest => "random_forest",
        Algorithm::Ensemble => "ensemble",
    }
}

/// Out-of-fold log-odds of one configuration on every training row (for calibration
/// when the search did not score it on every fold).
pub fn out_of_fold(
    candidate: &Candidate,
    columns: &[RawColumn],
    labels: &[bool],
    train_rows: &[usize],
    k: usize,
    seed: u64,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<f64>> {
    let folds = stratified_folds(labels, train_rows, k, seed);
    let mut z = vec![0.0; train_rows.len()];
    for f in 0..k {
        let scored = fold_log_odds(candidate, columns, labels, train_rows, &folds, f, should_stop)?;
        for (&i, v) in folds[f].iter().zip(scored) {
            z[i] = v;
        }
    }
    Ok(z)
}

/// Fits `candidate` on every fold but `f` and returns its log-odds for the rows of fold
/// `f` (positions into `train_rows`, in fold order).
fn fold_log_odds(
    candidate: &Candidate,
    columns: &[RawColumn],
    labels: &[bool],
    train_rows: &[usize],
    folds: &[Vec<usize>],
    f: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<f64>> {
    let fit_rows: Vec<usize> = (0..folds.len()).filter(|&g| g != f).flat_map(|g| folds[g].iter().map(|&i| train_rows[i])).collect();
    let test_rows: Vec<usize> = folds[f].iter().map(|&i| train_rows[i]).collect();
    let (features, predictor) = fit_on(candidate.algorithm, columns, labels, &fit_rows, &candidate.options, should_stop)?;
    let model = Classifier { features, predictor, positive_class: String::new() };
    let x = model.features.encode_rows(columns, &test_rows);
    let width = model.features.width;
    Ok((0..test_rows.len()).map(|i| model.log_odds_encoded(&x[i * width..(i + 1) * width])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_disjoint_and_seeded() {
        let labels: Vec<bool> = (0..300).map(|i| i % 4 == 0).collect();
        let rows: Vec<usize> = (0..300).filter(|i| i % 10 != 0).collect();
        let folds = stratified_folds(&labels, &rows, 3, 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..rows.len()).collect::<Vec<_>>());
        let positives = rows.iter().filter(|&&r| labels[r]).count() as f64;
        for f in &folds {
            let pos = f.iter().filter(|&&i| labels[rows[i]]).count() as f64;
            assert!((pos - positives / 3.0).abs() <= 1.0, "stratified: {pos} of {} positives", positives);
            assert!((f.len() as f64 - rows.len() as f64 / 3.0).abs() <= 2.0);
        }
        assert_eq!(stratified_folds(&labels, &rows, 3, 1), folds);
        assert_ne!(stratified_folds(&labels, &rows, 3, 2), folds);
    }

    #[test]
    fn candidates_start_with_the_defaults_and_are_seeded() {
        let o = TrainOptions::default();
        let c = candidates(&o);
        assert_eq!(c.iter().take(3).map(|c| c.algorithm).collect::<Vec<_>>(), [Algorithm::Logistic, Algorithm::GradientBoosting, Algorithm::RandomForest]);
        assert_eq!(c[1].options.boosting, TrainOptions::default().boosting);
        assert_eq!(c.len(), 3 + 8 + 4 + 2);
        let again = candidates(&o);
        assert!(c.iter().zip(&again).all(|(a, b)| a.describe == b.describe));
        let other = candidates(&TrainOptions { seed: 7, ..o.clone() });
        assert!(c.iter().zip(&other).any(|(a, b)| a.describe != b.describe));
        let gb = candidates(&TrainOptions { algorithm: Algorithm::GradientBoosting, ..o });
        assert!(gb.iter().all(|c| c.algorithm == Algorithm::GradientBoosting) && gb.len() == 9);
    }
}
