//! SQL surface of the model lifecycle: `crm.evaluate`, `crm.feature_importance` and
//! `crm.drift`, for every supervised model kind. Rows are read with the caller's
//! privileges through the same row reader as scoring (so a column whose type changed is
//! the same 42804 error), model bytes as the registry's owner.

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value as Json};

use super::importance::{self, ContributionImportance};
use super::profile::Profile;
use crate::classify::features::Value;
use crate::classify::metrics;
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::pg::row_reader::{for_each_feature, Cell};
use crate::pg::source::{cancel_requested, describe, find_column, quote_ident, raise_pending_cancel, read_in_batches, read_one, source_query};
use crate::regress;
use crate::rng::SplitMix64;
use crate::supervised::Supervised;

/// A model version's registry row, as monitoring needs it.
struct ModelRow {
    kind: String,
    version: i32,
    target: Option<String>,
    positive_class: Option<String>,
    features: Json,
    metrics: Json,
}

/// The row of version `version` of `name`, or of its deployed version.
fn model_row(name: &str, version: Option<i32>) -> Result<ModelRow> {
    let found = read_one::<JsonB>(
        "SELECT pg_catalog.jsonb_build_object('kind', m.kind, 'version', m.version, 'target', m.target, \
           'positive_class', m.positive_class, 'features', m.features, 'metrics', m.metrics) \
         FROM crm.models m \
         WHERE m.name OPERATOR(pg_catalog.=) $1 AND CASE WHEN $2 IS NULL \
           THEN m.id OPERATOR(pg_catalog.=) (SELECT d.model_id FROM crm.deployments d WHERE d.name OPERATOR(pg_catalog.=) $1) \
           ELSE m.version OPERATOR(pg_catalog.=) $2 END",
        &[name.into(), version.into()],
    )?;
    let Some(JsonB(row)) = found else {
        return Err(match version {
            Some(v) => CrmError::UnknownModel(format!("model \"{name}\" has no version {v} (crm.model_summary lists the versions)")),
            None => CrmError::UnknownModel(format!("no deployed model named \"{name}\"; pass a version, or deploy one with crm.deploy")),
        });
    };
    let text = |key: &str| row[key].as_str().map(str::to_string);
    Ok(ModelRow {
        kind: text("kind").unwrap_or_default(),
        version: row["version"].as_i64().unwrap_or(0) as i32,
        target: text("target"),
        positive_class: text("positive_class"),
        features: row["features"].clone(),
        metrics: row["metrics"].clone(),
    })
}

/// Models monitoring knows; anything else is 0A000 naming the kinds that are.
fn unsupported(name: &str, kind: &str, what: &str) -> CrmError {
    CrmError::Unsupported(format!("{what} works on classifier and regressor models; model \"{name}\" is a {kind} model"))
}

/// The supervised model of `row` (checked to be one first, for a precise 0A000).
fn supervised(name: &str, row: &ModelRow, what: &str) -> Result<Supervised> {
    if row.kind != "classifier" && row.kind != "regressor" {
        return Err(unsupported(name, &row.kind, what));
    }
    Supervised::version(name, Some(row.version))
}

fn owned(cell: Cell<'_>) -> Cell<'static> {
    match cell {
        Cell::Null => Cell::Null,
        Cell::Number(x) => Cell::Number(x),
        Cell::Text(t) => Cell::Owned(t.to_string()),
        Cell::Owned(s) => Cell::Owned(s),
    }
}

/// Reads every row of `query` with the model's row layout: `each` gets the row's feature
/// values (in feature order) and, with `target`, the target column as text (rows whose
/// target is NULL are skipped).
fn for_each_row(entry: &Supervised, query: &str, target: Option<&str>, mut each: impl FnMut(&[Value<'_>], Option<&str>) -> Result<()>) -> Result<()> {
    let described = describe(query)?;
    let sql = match target {
        Some(t) => {
            find_column(&described, t, "target (the model's)")?;
            let t = quote_ident(t);
            format!("SELECT crm_rows, crm_rows.{t}::pg_catalog.text FROM ({query}) AS crm_rows WHERE crm_rows.{t} IS NOT NULL")
        }
        None => format!("SELECT crm_rows FROM ({query}) AS crm_rows"),
    };
    let n = entry.feature_set().features.len();
    let mut cells: Vec<Cell<'static>> = Vec::with_capacity(n);
    let mut row_map = None;
    let mut failure: Option<CrmError> = None;
    read_in_batches(&sql, |row| {
        let Some(datum) = row.datum(1) else {
            return Ok(true);
        };
        cells.clear();
        cells.resize_with(n, || Cell::Null);
        // SAFETY: a composite column value of the current batch, valid during this call.
        let read = unsafe { for_each_feature(datum, entry.id(), || entry.model_features(), &mut row_map, |i, cell| cells[i] = owned(cell)) };
        let target_value = if target.is_some() { row.get::<String>(2)? } else { None };
        let done = read.and_then(|()| {
            let values: Vec<Value<'_>> = cells.iter().map(Cell::as_value).collect();
            each(&values, target_value.as_deref())
        });
        match done {
            Ok(()) => Ok(true),
            Err(e) => {
                failure = Some(e);
                Ok(false)
            }
        }
    })?;
    failure.map_or(Ok(()), Err)
}

/// A labelled target value as the model's metrics read it: 1/0 for a classifier (the
/// positive class or not), the number for a regressor.
struct Labels {
    target: String,
    /// Some(positive class) for a classifier.
    positive: Option<String>,
    /// Target values seen (a classifier's must be at most two).
    seen: Vec<String>,
}

impl Labels {
    fn of(entry: &Supervised, row: &ModelRow) -> Result<Labels> {
        let target = row.target.clone().ok_or_else(|| CrmError::CorruptModel(format!("{} has no target in crm.models", entry.who())))?;
        let positive = match entry {
            Supervised::Classifier(_) => Some(row.positive_class.clone().unwrap_or_default()),
            Supervised::Regressor(_) => None,
        };
        Ok(Labels { target, positive, seen: Vec::new() })
    }

    fn read(&mut self, label: &str, who: &str) -> Result<f64> {
        let Some(positive) = &self.positive else {
            return label.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                CrmError::InvalidText(format!("target \"{}\" holds '{label}', which is not a finite number; {who} predicts numbers", self.target))
            });
        };
        if !self.seen.iter().any(|s| s == label) {
            self.seen.push(label.to_string());
            if self.seen.len() > 2 {
                return Err(CrmError::InvalidArgument(format!(
                    "target \"{}\" has more than two classes in the source: {}; {who} knows '{positive}' and one other",
                    self.target,
                    self.seen.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(if label == positive { 1.0 } else { 0.0 })
    }

    /// After reading: a classifier's two classes must include its positive one.
    fn check(&self, rows: usize, who: &str) -> Result<()> {
        if let Some(positive) = &self.positive {
            if self.seen.len() == 2 && !self.seen.contains(positive) {
                return Err(CrmError::InvalidArgument(format!(
                    "target \"{}\" holds '{}' and '{}' in the source, neither of which is {who}'s positive class '{positive}'",
                    self.target, self.seen[0], self.seen[1]
                )));
            }
        }
        if rows == 0 {
            return Err(CrmError::InvalidArgument(format!("the source has no rows with a non-NULL target \"{}\" to evaluate on", self.target)));
        }
        Ok(())
    }
}

/// Labelled rows of `source`: the model's outputs and the targets (1/0 for classifiers).
fn labelled_predictions(entry: &Supervised, row: &ModelRow, query: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut labels = Labels::of(entry, row)?;
    let who = entry.who();
    let mut p = Vec::new();
    let mut y = Vec::new();
    let mut buffer = Vec::new();
    let target = labels.target.clone();
    for_each_row(entry, query, Some(&target), |values, label| {
        y.push(labels.read(label.unwrap_or_default(), &who)?);
        p.push(entry.model().output(values, &mut buffer));
        Ok(())
    })?;
    labels.check(y.len(), &who)?;
    Ok((p, y))
}

/// The model's quality on labelled rows of `source`, with the keys of its training
/// metrics (and those metrics beside, under "training").
#[pg_extern(stable, parallel_restricted)]
fn evaluate(name: Option<&str>, source: Option<&str>, version: default!(Option<i32>, "NULL")) -> JsonB {
    JsonB((|| evaluate_json(required(name, "name")?, required(source, "source")?, version))().or_raise())
}

fn evaluate_json(name: &str, source: &str, version: Option<i32>) -> Result<Json> {
    let row = model_row(name, version)?;
    let entry = supervised(name, &row, "crm.evaluate")?;
    let query = source_query(source)?;
    let (p, y) = labelled_predictions(&entry, &row, &query)?;
    let trained = &row.metrics;
    let mut out = match entry {
        Supervised::Classifier(_) => {
            let labels: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
            let mut out = serde_json::to_value(metrics::evaluate(&p, &labels)).unwrap_or_default();
            let threshold = trained["best_threshold"].as_f64().unwrap_or(0.5);
            out["at_threshold"] = metrics::at_threshold(&p, &labels, threshold);
            out["training"] = json!({"roc_auc": trained["roc_auc"], "pr_auc": trained["pr_auc"], "log_loss": trained["log_loss"],
                "brier": trained["brier"], "expected_calibration_error": trained["expected_calibration_error"], "rows": trained["rows"]});
            if labels.iter().all(|&v| v) || labels.iter().all(|&v| !v) {
                out["note"] = json!("the rows hold one class only: ROC AUC and PR AUC are undefined (null)");
            }
            out
        }
        Supervised::Regressor(_) => {
            let mut out = serde_json::to_value(regress::metrics::evaluate(&p, &y)).unwrap_or_default();
            out["training"] = json!({"rmse": trained["rmse"], "mae": trained["mae"], "r2": trained["r2"],
                "poisson_deviance": trained["poisson_deviance"], "rows": trained["rows"]});
            out
        }
    };
    out["model"] = json!({"name": name, "version": row.version, "kind": entry.kind(), "algorithm": entry.algorithm()});
    Ok(out)
}

type ImportanceRow = (String, f64, f64, String, String, i64);

/// What drives the model: mean |contribution| per feature on the training holdout (stored
/// with the model) or on the rows of `source`; with `method => 'permutation'`, the mean
/// drop of ROC AUC (classifiers) or rise of RMSE (regressors) when the feature's values
/// are shuffled across the labelled rows of
/// `source` (5 seeded repeats, at most 50,000 rows). `direction`: how the feature moves the
/// score ('increases', 'decreases', 'mixed', or the text level it raises most).
#[pg_extern(stable, parallel_restricted)]
fn feature_importance(
    name: Option<&str>,
    source: default!(Option<&str>, "NULL"),
    method: default!(Option<&str>, "'contribution'"),
) -> TableIterator<
    'static,
    (name!(feature, String), name!(importance, f64), name!(share, f64), name!(direction, String), name!(method, String), name!(rows, i64)),
> {
    TableIterator::new((|| importance_rows(required(name, "name")?, source, required(method, "method")?))().or_raise())
}

/// Rows of importances largest first, with each one's share of their sum.
fn with_shares(mut rows: Vec<(String, f64, String)>, method: &str, n: i64) -> Vec<ImportanceRow> {
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: f64 = rows.iter().map(|r| r.1.max(0.0)).sum();
    rows.into_iter().map(|(f, i, d)| (f, i, if total > 0.0 { i.max(0.0) / total } else { 0.0 }, d, method.to_string(), n)).collect()
}

/// Permutation repeats and the most rows they shuffle.
const PERMUTATION_REPEATS: usize = 5;
const PERMUTATION_ROWS: usize = 50_000;

fn importance_rows(name: &str, source: Option<&str>, method: &str) -> Result<Vec<ImportanceRow>> {
    let method = method.trim().to_ascii_lowercase();
    if method != "contribution" && method != "permutation" {
        return Err(CrmError::bad_argument("method", &method, "'contribution' (mean |contribution|) or 'permutation' (needs a labelled source)"));
    }
    let row = model_row(name, None)?;
    let entry = supervised(name, &row, "crm.feature_importance")?;
    let names: Vec<String> = entry.feature_list().into_iter().map(|(n, _)| n).collect();
    match (source, method.as_str()) {
        (None, "contribution") => {
            let entries = row.features.as_array().cloned().unwrap_or_default();
            let stored: Option<Vec<(String, f64, String)>> = entries
                .iter()
                .map(|e| Some((e["column"].as_str()?.to_string(), e["importance"].as_f64()?, e["direction"].as_str().unwrap_or("").to_string())))
                .collect();
            let stored = stored.filter(|s| !s.is_empty()).ok_or_else(|| {
                CrmError::InvalidArgument(format!(
                    "{} was trained before importances were stored with models: pass a source, crm.feature_importance('{name}', 'table')",
                    entry.who()
                ))
            })?;
            let n = row.metrics["importance_rows"].as_i64().unwrap_or(0);
            Ok(with_shares(stored, "contribution (holdout)", n))
        }
        (None, _) => Err(CrmError::bad_argument(
            "source",
            "NULL",
            "labelled rows (a table, view or SELECT with the target column): permutation importance shuffles them",
        )),
        (Some(source), "contribution") => {
            let query = source_query(source)?;
            let mut acc = ContributionImportance::new(names.len());
            for_each_row(&entry, &query, None, |values, _| {
                acc.add(values, &entry.model().contributions(values));
                Ok(())
            })?;
            let rows = acc.rows() as i64;
            Ok(with_shares(acc.finish().into_iter().map(|i| (names[i.feature].clone(), i.importance, i.direction)).collect(), "contribution", rows))
        }
        (Some(source), _) => {
            let query = source_query(source)?;
            let (x, y) = labelled_sample(&entry, &row, &query)?;
            let features = entry.feature_set();
            let blocks: Vec<(usize, usize)> = features.features.iter().enumerate().map(|(i, f)| (features.offsets[i], f.width())).collect();
            let predict = |x: &[f64]| entry.output_encoded(x);
            // larger is better: ROC AUC for a classifier, −RMSE for a regressor (so the
            // importance is the rise of RMSE)
            let labels: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
            let quality = |p: &[f64]| match entry {
                Supervised::Classifier(_) => metrics::roc_auc(p, &labels),
                Supervised::Regressor(_) => -regress::metrics::evaluate(p, &y).rmse,
            };
            let drops =
                raise_pending_cancel(importance::permutation(&x, features.width, &blocks, &predict, &quality, PERMUTATION_REPEATS, 42, &cancel_requested))?;
            let n = y.len() as i64;
            // the direction of the holdout contributions stored with the model, where known
            let entries = row.features.as_array().cloned().unwrap_or_default();
            let direction = |feature: &str| {
                entries.iter().find(|e| e["column"].as_str() == Some(feature)).and_then(|e| e["direction"].as_str()).unwrap_or("unknown").to_string()
            };
            Ok(with_shares(drops.into_iter().enumerate().map(|(i, d)| (names[i].clone(), d, direction(&names[i]))).collect(), "permutation", n))
        }
    }
}

/// Up to `PERMUTATION_ROWS` labelled rows of `source`, encoded (a seeded reservoir
/// sample when there are more), and their targets (1/0 for a classifier).
fn labelled_sample(entry: &Supervised, row: &ModelRow, query: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut labels = Labels::of(entry, row)?;
    let who = entry.who();
    let target = labels.target.clone();
    let features = entry.feature_set();
    let width = features.width;
    let mut x: Vec<f64> = Vec::new();
    let mut y: Vec<f64> = Vec::new();
    let mut seen = 0usize;
    let mut rng = SplitMix64::new(42);
    let mut buffer = Vec::new();
    for_each_row(entry, query, Some(&target), |values, label| {
        let label = labels.read(label.unwrap_or_default(), &who)?;
        features.encode_cells(values, &mut buffer);
        let slot = if y.len() < PERMUTATION_ROWS {
            x.extend_from_slice(&buffer);
            y.push(0.0);
            Some(y.len() - 1)
        } else {
            let j = rng.below_modulo(seen + 1);
            (j < PERMUTATION_ROWS).then_some(j)
        };
        if let Some(k) = slot {
            x[k * width..(k + 1) * width].copy_from_slice(&buffer);
            y[k] = label;
        }
        seen += 1;
        Ok(())
    })?;
    labels.check(y.len(), &who)?;
    if let Some(positive) = &labels.positive {
        let positives = y.iter().filter(|&&v| v == 1.0).count();
        if positives == 0 || positives == y.len() {
            return Err(CrmError::InvalidArgument(format!(
                "permutation importance needs rows of both classes of \"{target}\"; the source has {} rows, {positives} of class '{positive}'",
                y.len()
            )));
        }
    }
    Ok((x, y))
}

type DriftRow = (String, f64, bool, String, f64, f64, Option<f64>, Option<f64>, i64, JsonB);

/// How far the rows of `source` have moved from the rows the deployed model was trained
/// on: per feature (and for the model's score, as '(score)') the population stability
/// index over the training deciles or category shares, NULL a bin of its own; flagged when
/// PSI > 0.2 (status: stable < 0.1 ≤ moderate ≤ 0.2 < shifted). Shifted first.
#[allow(clippy::type_complexity)] // the SQL result's columns, as pgrx spells them
#[pg_extern(stable, parallel_restricted)]
fn drift(
    name: Option<&str>,
    source: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(feature, String),
        name!(psi, f64),
        name!(flagged, bool),
        name!(status, String),
        name!(null_share_training, f64),
        name!(null_share_now, f64),
        name!(mean_training, Option<f64>),
        name!(mean_now, Option<f64>),
        name!(rows, i64),
        name!(bins, JsonB),
    ),
> {
    TableIterator::new((|| drift_rows(required(name, "name")?, required(source, "source")?))().or_raise())
}

fn drift_rows(name: &str, source: &str) -> Result<Vec<DriftRow>> {
    let row = model_row(name, None)?;
    let entry = supervised(name, &row, "crm.drift")?;
    let model = entry.model();
    let features = &entry.feature_set().features;
    let stale =
        || CrmError::InvalidArgument(format!("{} was trained before training profiles were stored with models: retrain it to monitor drift", entry.who()));
    let entries = row.features.as_array().cloned().unwrap_or_default();
    let profiles: Vec<Profile> = features
        .iter()
        .map(|f| {
            let entry = entries.iter().find(|e| e["column"].as_str() == Some(f.name())).ok_or_else(stale)?;
            serde_json::from_value(entry["profile"].clone()).map_err(|_| stale())
        })
        .collect::<Result<_>>()?;
    let score_profile: Profile = serde_json::from_value(row.metrics["score_profile"].clone()).map_err(|_| stale())?;
    let query = source_query(source)?;
    let mut counters: Vec<_> = profiles.iter().map(Profile::counter).collect();
    let mut score_counter = score_profile.counter();
    let mut buffer = Vec::new();
    for_each_row(&entry, &query, None, |values, _| {
        for (counter, value) in counters.iter_mut().zip(values) {
            counter.add(*value);
        }
        score_counter.add(Value::Number(model.output(values, &mut buffer)));
        Ok(())
    })?;
    let out_row = |feature: String, d: super::profile::Drift| -> DriftRow {
        let bins = d.bins.iter().map(|(bin, e, a)| json!({"bin": bin, "training": e, "now": a})).collect::<Vec<_>>();
        (
            feature,
            d.psi,
            d.flagged,
            d.status.to_string(),
            d.null_share_training,
            d.null_share_now,
            d.mean_training,
            d.mean_now,
            d.rows as i64,
            JsonB(json!(bins)),
        )
    };
    let mut rows: Vec<DriftRow> = features.iter().zip(&counters).map(|(f, c)| out_row(f.name().to_string(), c.finish())).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.insert(0, out_row("(score)".to_string(), score_counter.finish()));
    Ok(rows)
}
