//! SQL surface of regressors: `crm.train_regressor`. Scoring is `crm.predict` (with the
//! classifier's planner rewrite and call-site memo), explanations `crm.explain`, triggers
//! `crm.score_trigger`, monitoring `crm.evaluate` / `crm.feature_importance` /
//! `crm.drift`: all serve both kinds of supervised model.

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use super::model::{self, RegressionPredictor};
use super::options::{RegressOptions, RegressionLoss};
use crate::classify::sql::{feature_spec, load_training, NotFeatures, TargetColumn};
use crate::error::sql::OrRaise;
use crate::error::{required, Result};
use crate::pg::json_options::JsonOptions;
use crate::pg::source::{cancel_requested, check_new_model, deployed_metrics, raise_pending_cancel, source_query, store_model, NewModel, TrainRow};
use crate::registry::{self, Kind};

/// The holdout measure a regressor is deployed by (lower is better): RMSE, or the mean
/// Poisson deviance for the Poisson and Tweedie losses.
pub(crate) fn deploy_measure(loss: RegressionLoss) -> &'static str {
    match loss {
        RegressionLoss::SquaredError => "rmse",
        _ => "poisson_deviance",
    }
}

/// Trains a regressor of `target` (a numeric column) on the other columns of `source`,
/// stores it as the next version of `name`, and deploys it when nothing is deployed yet
/// or when it beats the deployed version's holdout RMSE (Poisson deviance for the Poisson
/// and Tweedie losses).
#[pg_extern(volatile, parallel_unsafe)]
fn train_regressor(
    name: Option<&str>,
    source: Option<&str>,
    target: Option<&str>,
    algorithm: default!(Option<&str>, "'auto'"),
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(algorithm, String), name!(deployed, bool), name!(metrics, JsonB))>
{
    let run = || {
        let options = JsonOptions::or_null(&options)?;
        train(required(name, "name")?, required(source, "source")?, required(target, "target")?, required(algorithm, "algorithm")?, &options)
    };
    TableIterator::once(run().or_raise())
}

fn train(name: &str, source: &str, target: &str, algorithm: &str, options: &serde_json::Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let opts = RegressOptions::parse(algorithm, options)?;
    let query = source_query(source)?;
    let not = NotFeatures { exclude: &opts.exclude, key: opts.key.as_deref(), split: opts.split.as_deref() };
    let training = load_training(&query, target, true, &not)?;
    let TargetColumn::Numbers(y) = &training.target else {
        unreachable!("a numeric target was asked for");
    };
    let trained = raise_pending_cancel(model::train(&training.columns, y, training.test_mask.as_deref(), &opts, &cancel_requested))
        .map_err(|e| e.map_message(|m| m.replace("the target", &format!("target \"{target}\""))))?;
    let bytes = registry::encode(Kind::Regressor, &trained.regressor)?;
    let summaries = crate::lifecycle::summarize(&trained.regressor, &training.columns, &trained.holdout, opts.seed);
    let mut spec = feature_spec(&trained.regressor.features);
    summaries.annotate(&mut spec);
    let mut metrics = serde_json::to_value(&trained.metrics).unwrap_or_default();
    let measure = deploy_measure(opts.loss);
    metrics["training_seconds"] = json!(trained.seconds);
    metrics["loss"] = json!(opts.loss.name());
    metrics["deploy_measure"] = json!(measure);
    metrics["candidates"] = json!(trained
        .candidates
        .iter()
        .map(|(a, m)| json!({"algorithm": a, "rmse": m.rmse, "mae": m.mae, "r2": m.r2, "poisson_deviance": m.poisson_deviance,
            "scored_on": if trained.candidates.len() > 1 { "cross-validation" } else { "holdout" }}))
        .collect::<Vec<_>>());
    metrics["score_profile"] = serde_json::to_value(&summaries.output).unwrap_or_default();
    metrics["importance_rows"] = json!(summaries.importance_rows);
    let (b, f) = (&opts.boosting, &opts.forest);
    let forest = matches!(trained.regressor.predictor, RegressionPredictor::Forest(_));
    let (max_leaves, min_samples_leaf) =
        if forest { ((f.max_leaves < usize::MAX).then_some(f.max_leaves), f.min_samples_leaf) } else { (Some(b.max_leaves), b.min_samples_leaf) };
    let hyper = json!({"alpha": opts.alpha, "loss": opts.loss.name(),
        "tweedie_power": match opts.loss { RegressionLoss::Tweedie { power } => Some(power), _ => None },
        "max_trees": b.max_iter, "learning_rate": b.learning_rate, "max_leaves": max_leaves, "min_samples_leaf": min_samples_leaf,
        "l2_regularization": b.l2, "early_stopping_rounds": b.early_stopping_rounds,
        "n_trees": f.n_trees, "max_features": f.max_features.to_json(), "max_depth": f.max_depth, "bootstrap": f.bootstrap,
        "test_fraction": opts.test_fraction, "seed": opts.seed, "split": opts.split, "refit": opts.refit, "max_levels": opts.max_levels, "min_level_count": opts.min_level_count});
    let algorithm_name = trained.regressor.algorithm().to_string();
    // store_model locks the name for the transaction, so the deploy check below is sound.
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Regressor,
        algorithm: &algorithm_name,
        target: Some(target),
        positive_class: None,
        features: spec,
        hyperparameters: hyper,
        metrics: metrics.clone(),
        training_rows: trained.training_rows as i64,
        holdout_rows: Some(trained.holdout_rows as i64),
        bytes,
    })?;
    let rule = registry::sql::DeployRule {
        function: "train_regressor",
        measure,
        higher_is_better: false,
        digits: 6,
        new_value: metrics[measure].as_f64().unwrap_or(f64::INFINITY),
        // the deployed version's measure, when it was deployed by the same one
        current: deployed_metrics(name).filter(|m| m["deploy_measure"].as_str().unwrap_or("rmse") == measure).and_then(|m| m[measure].as_f64()),
    };
    let deploy = registry::sql::deploy_if_better(name, version, &rule)?;
    Ok((id, name.to_string(), version, algorithm_name, deploy, JsonB(metrics)))
}
