//! SQL surface of classifiers: `train_classifier`, `score`, `churn_score`, `explain`.

use std::collections::HashMap;
use std::ffi::CString;

use pgrx::prelude::*;
use pgrx::{AnyElement, GucContext, GucFlags, GucRegistry, GucSetting, JsonB};
use serde_json::json;

use super::features::{RawColumn, ValueKind, NULL_CODE};
use super::model;
use super::options::TrainOptions;
use crate::error::sql::OrRaise;
use crate::error::{CrmError, Result};
use crate::pg::json_options::JsonOptions;
use crate::pg::memo;
use crate::pg::row_reader::{check_row_type, for_each_feature, read_features, Cell, Reader, RowMapMemo};
use crate::pg::source::{
    cancel_requested, check_new_model, deployed_metrics, describe, find_column, quote_ident, raise_pending_cancel, read_in_batches, source_query, store_model,
    ColumnInfo, NewModel, TrainRow,
};
use crate::registry::{self, Kind};
use crate::supervised::Supervised;

pub static CHURN_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"churn"));

pub fn register_gucs() {
    GucRegistry::define_string_guc(
        c"crm.churn_model",
        c"Model name crm.churn_score uses.",
        c"crm.churn_score(row) scores with the deployed version of this model name.",
        &CHURN_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
}

fn value_kind(type_oid: pg_sys::Oid) -> Option<ValueKind> {
    match type_oid {
        pg_sys::FLOAT8OID | pg_sys::FLOAT4OID | pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::NUMERICOID => Some(ValueKind::Number),
        pg_sys::BOOLOID => Some(ValueKind::Boolean),
        pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Some(ValueKind::Days),
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID | pg_sys::NAMEOID | pg_sys::CHAROID => Some(ValueKind::Text),
        pg_sys::JSONOID | pg_sys::JSONBOID | pg_sys::BYTEAOID | pg_sys::XMLOID => None,
        // enums, domains and other scalar types: their text form, as categories
        other => {
            let is_array = unsafe { pg_sys::get_element_type(other) } != pg_sys::InvalidOid;
            (!is_array).then_some(ValueKind::Text)
        }
    }
}

/// SQL that turns a column into what the reader expects (float8 or text).
fn read_expression(name: &str, kind: ValueKind) -> String {
    let c = quote_ident(name);
    match kind {
        ValueKind::Number => format!("{c}::pg_catalog.float8"),
        ValueKind::Boolean => format!("{c}::pg_catalog.int4::pg_catalog.float8"),
        // Days since 1970-01-01 as scoring reads them (row_reader::Reader): UTC for
        // timestamptz, nominal for date and timestamp, whatever the session TimeZone.
        ValueKind::Days => {
            format!("(EXTRACT(epoch FROM {c}) OPERATOR(pg_catalog./) 86400)::pg_catalog.float8")
        }
        ValueKind::Text => format!("{c}::pg_catalog.text"),
    }
}

/// Positive class from the target's distinct values, or `options.positive`.
fn positive_class(values: &[String], explicit: Option<&str>, target: &str) -> Result<String> {
    if values.len() != 2 {
        return Err(CrmError::InvalidArgument(format!(
            "target \"{target}\" must have exactly two classes, found {}: {}",
            values.len(),
            values.iter().take(10).map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
        )));
    }
    if let Some(p) = explicit {
        return values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(p))
            .cloned()
            .ok_or_else(|| CrmError::bad_argument("options.positive", p, &format!("one of the target's values: '{}', '{}'", values[0], values[1])));
    }
    const POSITIVE: &[&str] = &["true", "t", "1", "yes", "y", "churned", "churn", "lost", "left", "positive", "pos", "1.0"];
    let hits: Vec<&String> = values.iter().filter(|v| POSITIVE.contains(&v.to_ascii_lowercase().as_str())).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(CrmError::InvalidArgument(format!(
            "cannot tell which of '{}' and '{}' is the positive class of \"{target}\"; pass options => '{{\"positive\": \"...\"}}'",
            values[0], values[1]
        ))),
    }
}

struct Loaded {
    columns: Vec<RawColumn>,
    labels: Vec<bool>,
    test_mask: Option<Vec<bool>>,
    positive: String,
}

/// The code of `value` in `dictionary`, adding it if new (allocating only then).
fn intern(dictionary: &mut HashMap<String, u32>, value: &str) -> u32 {
    if let Some(&code) = dictionary.get(value) {
        return code;
    }
    let code = dictionary.len() as u32;
    dictionary.insert(value.to_owned(), code);
    code
}

/// Which source columns are not features: the target, the key, the split column and
/// `options.exclude`.
pub(crate) struct NotFeatures<'a> {
    pub exclude: &'a [String],
    pub key: Option<&'a str>,
    pub split: Option<&'a str>,
}

/// A target column as read: class codes and their labels, or numbers.
pub(crate) enum TargetColumn {
    Classes { codes: Vec<u32>, levels: Vec<String> },
    Numbers(Vec<f64>),
}

/// Training data read from a source: feature columns, the target, the split mask.
pub(crate) struct Training {
    pub columns: Vec<RawColumn>,
    pub target: TargetColumn,
    pub test_mask: Option<Vec<bool>>,
}

/// Reads the rows of `query` whose `target` is not NULL: every other usable column as a
/// feature (numbers, booleans, dates and times as numbers, the rest as text), the target
/// as classes or (`numeric_target`) as float8.
pub(crate) fn load_training(query: &str, target: &str, numeric_target: bool, not: &NotFeatures<'_>) -> Result<Training> {
    let described = describe(query)?;
    let find = |name: &str, what: &str| find_column(&described, name, what);
    let target_column = find(target, "target")?;
    if numeric_target && !crate::pg::source::is_numeric(target_column.type_oid) {
        return Err(CrmError::DatatypeMismatch(format!(
            "target \"{target}\" must be numeric (smallint, integer, bigint, real, double precision or numeric) to train a regressor; \
             for a yes/no target use crm.train_classifier"
        )));
    }
    for e in not.exclude {
        find(e, "options.exclude")?;
    }
    if let Some(k) = not.key {
        find(k, "options.key")?;
    }
    if let Some(s) = not.split {
        let c = find(s, "options.split")?;
        if c.type_oid != pg_sys::BOOLOID {
            return Err(CrmError::bad_argument("options.split", s, "a boolean column that is true for test rows"));
        }
    }
    let features: Vec<(&ColumnInfo, ValueKind)> = described
        .iter()
        .filter(|c| c.name != target && !not.exclude.contains(&c.name) && not.key != Some(c.name.as_str()) && not.split != Some(c.name.as_str()))
        .filter_map(|c| value_kind(c.type_oid).map(|k| (c, k)))
        .collect();
    if features.is_empty() {
        return Err(CrmError::InvalidArgument("the source has no usable feature column (numeric, boolean, date/time or text)".into()));
    }
    let mut select: Vec<String> = features.iter().map(|(c, k)| read_expression(&c.name, *k)).collect();
    select.push(format!("{}::pg_catalog.{}", quote_ident(target), if numeric_target { "float8" } else { "text" }));
    if let Some(s) = not.split {
        select.push(quote_ident(s));
    }
    let sql = format!("SELECT {} FROM ({query}) AS crm_training WHERE {} IS NOT NULL", select.join(", "), quote_ident(target));

    let mut numbers: Vec<Vec<f64>> = features.iter().map(|_| Vec::new()).collect();
    let mut codes: Vec<Vec<u32>> = features.iter().map(|_| Vec::new()).collect();
    let mut dictionaries: Vec<HashMap<String, u32>> = features.iter().map(|_| HashMap::new()).collect();
    let mut target_codes: Vec<u32> = Vec::new();
    let mut target_numbers: Vec<f64> = Vec::new();
    let mut target_levels: HashMap<String, u32> = HashMap::new();
    let mut test_mask: Vec<bool> = Vec::new();
    let nf = features.len();
    // read_in_batches frees each fetched batch before the next: memory holds the
    // compact columns, not the fetched rows.
    read_in_batches(&sql, |row| {
        for (i, (_, kind)) in features.iter().enumerate() {
            if *kind == ValueKind::Text {
                let code = match row.get::<&str>(i + 1)? {
                    Some(s) => intern(&mut dictionaries[i], s),
                    None => NULL_CODE,
                };
                codes[i].push(code);
            } else {
                numbers[i].push(row.get::<f64>(i + 1)?.unwrap_or(f64::NAN));
            }
        }
        if numeric_target {
            target_numbers.push(row.get::<f64>(nf + 1)?.unwrap_or(f64::NAN));
        } else {
            target_codes.push(intern(&mut target_levels, row.get::<&str>(nf + 1)?.unwrap_or_default()));
        }
        if not.split.is_some() {
            test_mask.push(row.get::<bool>(nf + 2)?.unwrap_or(false));
        }
        Ok(true)
    })?;
    let columns = features
        .iter()
        .enumerate()
        .map(|(i, (c, kind))| {
            if *kind == ValueKind::Text {
                let mut lv = vec![String::new(); dictionaries[i].len()];
                for (k, v) in dictionaries[i].drain() {
                    lv[v as usize] = k;
                }
                RawColumn::Categories { name: c.name.clone(), codes: std::mem::take(&mut codes[i]), levels: lv }
            } else {
                RawColumn::Numbers { name: c.name.clone(), kind: *kind, values: std::mem::take(&mut numbers[i]) }
            }
        })
        .collect();
    let target = if numeric_target {
        TargetColumn::Numbers(target_numbers)
    } else {
        let mut levels: Vec<String> = vec![String::new(); target_levels.len()];
        for (k, v) in target_levels {
            levels[v as usize] = k;
        }
        TargetColumn::Classes { codes: target_codes, levels }
    };
    Ok(Training { columns, target, test_mask: not.split.map(|_| test_mask) })
}

fn load(query: &str, target: &str, options: &TrainOptions) -> Result<Loaded> {
    let not = NotFeatures { exclude: &options.exclude, key: options.key.as_deref(), split: options.split.as_deref() };
    let training = load_training(query, target, false, &not)?;
    let TargetColumn::Classes { codes, levels } = training.target else {
        unreachable!("a class target was asked for");
    };
    let mut sorted = levels.clone();
    sorted.sort();
    let positive = positive_class(&sorted, options.positive.as_deref(), target)?;
    let positive_code = levels.iter().position(|l| *l == positive).unwrap_or(usize::MAX) as u32;
    let labels: Vec<bool> = codes.iter().map(|&v| v == positive_code).collect();
    if labels.len() < 20 {
        return Err(CrmError::InvalidArgument(format!("too few rows to train and evaluate: {} (at least 20 with a non-NULL target)", labels.len())));
    }
    Ok(Loaded { columns: training.columns, labels, test_mask: training.test_mask, positive })
}

pub(crate) fn feature_spec(features: &super::features::FeatureSet) -> serde_json::Value {
    json!(features
        .features
        .iter()
        .map(|f| match f {
            super::features::Feature::Numeric { name, kind, median, mean, std, missing_indicator } => json!({
            "column": name, "type": format!("{kind:?}").to_lowercase(), "preprocessing": "impute median, standardise",
            "median": median, "mean": mean, "std": std, "missing_indicator": missing_indicator }),
            super::features::Feature::Categorical { name, levels, null_level } => json!({
            "column": name, "type": "text", "preprocessing": "one-hot of frequent levels + other", "levels": levels, "null_level": null_level }),
        })
        .collect::<Vec<_>>())
}

/// Trains a classifier, stores it as the next version of `name`, and deploys it when
/// nothing is deployed yet or when it beats the deployed version's holdout ROC AUC.
#[pg_extern(volatile, parallel_unsafe)]
fn train_classifier(
    name: &str,
    source: &str,
    target: &str,
    algorithm: default!(&str, "'auto'"),
    options: default!(JsonOptions, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(algorithm, String), name!(deployed, bool), name!(metrics, JsonB))>
{
    let row = options.value("options").and_then(|options| train(name, source, target, algorithm, options)).or_raise();
    TableIterator::once(row)
}

fn train(name: &str, source: &str, target: &str, algorithm: &str, options: &serde_json::Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let opts = TrainOptions::parse(algorithm, options)?;
    let query = source_query(source)?;
    let loaded = load(&query, target, &opts)?;
    // Worker threads never call Postgres; this thread polls for a cancel and, once
    // training stops, raises it as Postgres's own error.
    let trained = raise_pending_cancel(model::train(&loaded.columns, &loaded.labels, loaded.test_mask.as_deref(), &loaded.positive, &opts, &cancel_requested))?;
    let bytes = registry::encode(Kind::Classifier, &trained.classifier)?;
    // What monitoring compares new rows with (crm.drift, crm.feature_importance).
    let summaries = crate::lifecycle::summarize(&trained.classifier, &loaded.columns, &trained.holdout, opts.seed);
    let mut spec = feature_spec(&trained.classifier.features);
    summaries.annotate(&mut spec);
    let mut metrics = serde_json::to_value(&trained.metrics).unwrap_or_default();
    metrics["score_profile"] = serde_json::to_value(&summaries.output).unwrap_or_default();
    metrics["importance_rows"] = json!(summaries.importance_rows);
    metrics["training_seconds"] = json!(trained.seconds);
    // Every candidate compared: by cross-validation on the training rows when the search
    // ran (its full report under "search"), else on the holdout.
    metrics["candidates"] = match trained.search.as_ref().and_then(|s| s["candidates"].as_array()) {
        Some(searched) => json!(searched
            .iter()
            .map(|c| json!({"algorithm": c["algorithm"], "roc_auc": c["cv_roc_auc"], "log_loss": c["cv_log_loss"], "scored_on": "cross-validation",
                "folds": c["folds"], "default": c["default"], "hyperparameters": c["hyperparameters"]}))
            .collect::<Vec<_>>()),
        None => json!(trained
            .candidates
            .iter()
            .map(|(a, m)| json!({"algorithm": a, "roc_auc": m.roc_auc, "log_loss": m.log_loss, "scored_on": "holdout"}))
            .collect::<Vec<_>>()),
    };
    if let Some(search) = &trained.search {
        let mut summary = search.clone();
        if let Some(o) = summary.as_object_mut() {
            o.remove("candidates");
        }
        metrics["search"] = summary;
    }
    if let Some(calibration) = &trained.calibration {
        metrics["calibration_fit"] = calibration.clone();
    }
    // the hyperparameters of the kept model (the search's choice, if it ran)
    let chosen = &trained.options;
    let (b, f) = (&chosen.boosting, &chosen.forest);
    // max_leaves and min_samples_leaf: those of the kept model's tree algorithm
    let forest = matches!(trained.classifier.predictor.uncalibrated(), model::Predictor::Forest(_));
    let (max_leaves, min_samples_leaf) =
        if forest { ((f.max_leaves < usize::MAX).then_some(f.max_leaves), f.min_samples_leaf) } else { (Some(b.max_leaves), b.min_samples_leaf) };
    let hyper = json!({"C": chosen.c, "max_iter": opts.max_iter, "tol": opts.tol, "class_weight": if opts.balanced { "balanced" } else { "none" },
        "max_trees": b.max_iter, "learning_rate": b.learning_rate, "max_leaves": max_leaves, "min_samples_leaf": min_samples_leaf,
        "l2_regularization": b.l2, "early_stopping_rounds": b.early_stopping_rounds, "feature_fraction": b.feature_fraction, "subsample": b.subsample,
        "calibration": trained.classifier.calibration(), "time_budget": opts.search_budget(), "cv_folds": opts.cv_folds,
        "n_trees": f.n_trees, "max_features": f.max_features.to_json(), "max_depth": f.max_depth, "bootstrap": f.bootstrap,
        "test_fraction": opts.test_fraction, "seed": opts.seed, "split": opts.split, "refit": opts.refit, "max_levels": opts.max_levels, "min_level_count": opts.min_level_count});
    let algorithm_name = trained.classifier.algorithm().to_string();
    // store_model locks the name for the transaction, so the deploy check below is sound.
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Classifier,
        algorithm: &algorithm_name,
        target: Some(target),
        positive_class: Some(&loaded.positive),
        features: spec,
        hyperparameters: hyper,
        metrics: metrics.clone(),
        training_rows: trained.training_rows as i64,
        holdout_rows: Some(trained.holdout_rows as i64),
        bytes,
    })?;
    let rule = registry::sql::DeployRule {
        function: "train_classifier",
        measure: "ROC AUC",
        higher_is_better: true,
        digits: 4,
        new_value: trained.metrics.roc_auc,
        current: deployed_metrics(name).and_then(|m| m["roc_auc"].as_f64()),
    };
    let deploy = registry::sql::deploy_if_better(name, version, &rule)?;
    Ok((id, name.to_string(), version, algorithm_name, deploy, JsonB(metrics)))
}

/// The deployed model `name` for `function`: any supervised model for crm.predict, a
/// classifier for the functions that return a probability.
pub(crate) fn supervised_for(name: &str, function: &str) -> Result<Supervised> {
    match function {
        "predict" | "explain" => Supervised::deployed(name),
        _ => Supervised::deployed_classifier(name, &format!("crm.{function}")),
    }
}

/// What one call site (one `crm.score(...)` in one statement) keeps between rows, in
/// `fn_extra`: the model resolved for this statement and the row layout of the last row
/// type. Lives for the statement, so a deploy committed elsewhere is seen by the next one.
struct CallMemo {
    name: String,
    model: Supervised,
    row_map: RowMapMemo,
    buffer: Vec<f64>,
}

/// The memo of this call site for model `name`, made (or remade, when another name
/// arrives) with the model resolved now. The row argument's type is checked here, once
/// per call site: it cannot change between rows.
fn call_memo<'a>(name: &[u8], fcinfo: pg_sys::FunctionCallInfo, row_arg: i32, function: &str) -> Result<&'a mut CallMemo> {
    // SAFETY: the live call info of crm.score/crm.churn_score, whose fn_extra holds only this memo.
    unsafe {
        memo::call_site(
            fcinfo,
            |m: &CallMemo| m.name.as_bytes() == name,
            || {
                // SAFETY: flinfo of this call; its fn_expr says the argument's type.
                let row_type = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, row_arg);
                check_row_type(row_type, function)?;
                let name = std::str::from_utf8(name).map_err(|_| CrmError::bad_argument("name", "(not UTF-8)", "a model name"))?;
                Ok(CallMemo { name: name.to_string(), model: supervised_for(name, function)?, row_map: None, buffer: Vec::new() })
            },
        )
    }
}

fn score_with_memo(memo: &mut CallMemo, datum: pg_sys::Datum) -> Result<f64> {
    let entry = &memo.model;
    let features = entry.feature_set();
    let buffer = &mut memo.buffer;
    buffer.resize(features.width, 0.0);
    // SAFETY: a composite datum valid for this call.
    unsafe { for_each_feature(datum, entry.id(), || entry.model_features(), &mut memo.row_map, |i, cell| features.encode_into(i, (&cell).into(), buffer))? };
    Ok(entry.output_encoded(buffer))
}

/// The bytes of a text datum, detoasted if need be (no copy for the usual short text).
///
/// # Safety
/// `datum` must be a non-NULL text datum valid for `'a`.
unsafe fn text_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    // SAFETY: forwarded; a detoasted varlena's payload follows its header.
    unsafe {
        let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        std::slice::from_raw_parts(pgrx::varlena::vardata_any(v) as *const u8, pgrx::varlena::varsize_any_exhdr(v))
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_score() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.score(name text, row anyelement) → float8`, the probability of the positive
/// class by the deployed model `name`. A raw V1 function: per row it reads the name's
/// bytes and the row, nothing else (pgrx's wrapper converted both on every row, a
/// measurable share of a million-row scan).
///
/// # Safety
/// Called by Postgres only, as the STRICT function `crm.score(text, anyelement)`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_score(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: a STRICT function with two non-NULL arguments.
    let args = unsafe { (*fcinfo).args.as_slice(2) };
    let name = unsafe { text_bytes(args[0].value) };
    let memo = call_memo(name, fcinfo, 1, "score").or_raise();
    pg_sys::Datum::from(score_with_memo(memo, args[1].value).or_raise().to_bits())
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_churn_score() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.churn_score(row anyelement) → float8`: `crm.score` with the model named by the
/// setting `crm.churn_model` (default 'churn').
///
/// # Safety
/// Called by Postgres only, as the STRICT function `crm.churn_score(anyelement)`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_churn_score(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: a STRICT function with one non-NULL argument.
    let row = unsafe { (*fcinfo).args.as_slice(1)[0].value };
    let name = CHURN_MODEL.get();
    let name = name.as_ref().map(|c| c.to_bytes()).unwrap_or(b"churn");
    let memo = call_memo(name, fcinfo, 0, "churn_score").or_raise();
    pg_sys::Datum::from(score_with_memo(memo, row).or_raise().to_bits())
}

/// What one call site of a column form (`crm.score_columns`, made by the planner from
/// `crm.score(name, row)`, see `row_rewrite`) keeps between rows: the model and, per
/// feature, the argument that carries its column and how to read it.
struct ColumnsMemo {
    name: String,
    model: Supervised,
    /// Per model feature: (argument index, reader of the argument's type).
    columns: Vec<(usize, Reader)>,
    buffer: Vec<f64>,
}

/// The memo of this call site of a column form whose column names are argument
/// `names_arg` and column values the arguments after it.
fn columns_memo<'a>(name: &[u8], fcinfo: pg_sys::FunctionCallInfo, names_arg: usize, function: &str) -> Result<&'a mut ColumnsMemo> {
    // SAFETY: the live call info of a column form, whose fn_extra holds only this memo.
    unsafe { memo::call_site(fcinfo, |m: &ColumnsMemo| m.name.as_bytes() == name, || make_columns_memo(name, fcinfo, names_arg, function)) }
}

fn make_columns_memo(name: &[u8], fcinfo: pg_sys::FunctionCallInfo, names_arg: usize, function: &str) -> Result<ColumnsMemo> {
    // SAFETY: fcinfo and its flinfo are valid for this call.
    let flinfo = unsafe { (*fcinfo).flinfo };
    let nargs = unsafe { (*fcinfo).nargs } as usize;
    // SAFETY: names_arg < nargs (the function's signature).
    let names_datum = unsafe { (*fcinfo).args.as_slice(nargs)[names_arg] };
    let stable = unsafe { pg_sys::get_fn_expr_arg_stable(flinfo, names_arg as i32) };
    let names = if names_datum.isnull || !stable {
        None
    } else {
        // SAFETY: a non-NULL text[] argument.
        unsafe { Vec::<Option<String>>::from_datum(names_datum.value, false) }
    };
    let names: Vec<String> = match names {
        Some(n) if n.len() == nargs - names_arg - 1 && n.iter().all(Option::is_some) => n.into_iter().flatten().collect(),
        _ => {
            return Err(CrmError::bad_argument(
                "column_names",
                "(not matching the columns)",
                "a constant text[] naming each following argument (this form is written by the planner from crm.score(name, row))",
            ))
        }
    };
    let name = std::str::from_utf8(name).map_err(|_| CrmError::bad_argument("name", "(not UTF-8)", "a model name"))?;
    let model = supervised_for(name, function)?;
    let who = model.who();
    let features = model.feature_list();
    let mut columns = Vec::with_capacity(features.len());
    for (feature, kind) in &features {
        let Some(at) = names.iter().position(|n| n == feature) else {
            return Err(CrmError::UndefinedColumn(format!(
                "the row has no column \"{feature}\", which {who} needs (its features: {})",
                features.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        let arg = names_arg + 1 + at;
        // SAFETY: flinfo of this call; its fn_expr says the argument's type.
        let type_oid = unsafe { pg_sys::get_fn_expr_argtype(flinfo, arg as i32) };
        columns.push((arg, Reader::for_column(feature, type_oid, *kind, &who)?));
    }
    Ok(ColumnsMemo { name: name.to_string(), model, columns, buffer: Vec::new() })
}

/// The positive-class probability of the row whose columns are this call's arguments.
fn score_columns_with_memo(memo: &mut ColumnsMemo, fcinfo: pg_sys::FunctionCallInfo) -> Result<f64> {
    let model = &memo.model;
    let features = model.feature_set();
    let buffer = &mut memo.buffer;
    buffer.resize(features.width, 0.0);
    // SAFETY: the memo's argument indexes are below nargs (checked when it was made).
    let args = unsafe { (*fcinfo).args.as_slice((*fcinfo).nargs as usize) };
    for (i, &(arg, reader)) in memo.columns.iter().enumerate() {
        let value = &args[arg];
        // SAFETY: a non-NULL argument of the type its expression has (the reader's).
        let cell = if value.isnull { Cell::Null } else { unsafe { reader.read(value.value) } };
        features.encode_into(i, (&cell).into(), buffer);
    }
    Ok(model.output_encoded(buffer))
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_score_columns() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.score_columns(name, column_names text[], VARIADIC "any")`: `crm.score` with the
/// row's columns as arguments, the form the planner gives `crm.score(name, t)`.
///
/// # Safety
/// Called by Postgres only, as `crm.score_columns(text, text[], VARIADIC "any")`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_score_columns(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: at least the two declared arguments.
    let name = unsafe { (*fcinfo).args.as_slice(2)[0] };
    if name.isnull {
        // As the STRICT crm.score: no model name, no score.
        unsafe { (*fcinfo).isnull = true };
        return pg_sys::Datum::from(0);
    }
    let name = unsafe { text_bytes(name.value) };
    let memo = columns_memo(name, fcinfo, 1, "score").or_raise();
    pg_sys::Datum::from(score_columns_with_memo(memo, fcinfo).or_raise().to_bits())
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_churn_score_columns() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.churn_score_columns(column_names text[], VARIADIC "any")`: the column form of
/// `crm.churn_score(row)`.
///
/// # Safety
/// Called by Postgres only, as `crm.churn_score_columns(text[], VARIADIC "any")`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_churn_score_columns(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let name = CHURN_MODEL.get();
    let name = name.as_ref().map(|c| c.to_bytes()).unwrap_or(b"churn");
    let memo = columns_memo(name, fcinfo, 0, "churn_score").or_raise();
    pg_sys::Datum::from(score_columns_with_memo(memo, fcinfo).or_raise().to_bits())
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_predict() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.predict(name text, row anyelement) → float8`: the deployed model's output for the
/// row: a regressor's prediction, a classifier's positive-class probability.
///
/// # Safety
/// Called by Postgres only, as the STRICT function `crm.predict(text, anyelement)`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_predict(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: a STRICT function with two non-NULL arguments.
    let args = unsafe { (*fcinfo).args.as_slice(2) };
    let name = unsafe { text_bytes(args[0].value) };
    let memo = call_memo(name, fcinfo, 1, "predict").or_raise();
    pg_sys::Datum::from(score_with_memo(memo, args[1].value).or_raise().to_bits())
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_predict_columns() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// `crm.predict_columns(name, column_names text[], VARIADIC "any")`: the column form of
/// `crm.predict(name, t)`, made by the planner.
///
/// # Safety
/// Called by Postgres only, as `crm.predict_columns(text, text[], VARIADIC "any")`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_predict_columns(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: at least the two declared arguments.
    let name = unsafe { (*fcinfo).args.as_slice(2)[0] };
    if name.isnull {
        unsafe { (*fcinfo).isnull = true };
        return pg_sys::Datum::from(0);
    }
    let name = unsafe { text_bytes(name.value) };
    let memo = columns_memo(name, fcinfo, 1, "predict").or_raise();
    pg_sys::Datum::from(score_columns_with_memo(memo, fcinfo).or_raise().to_bits())
}

extension_sql!(
    r#"
CREATE FUNCTION predict(name text, "row" anyelement) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_predict' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT row_columns_support;
COMMENT ON FUNCTION predict(text, anyelement) IS 'The deployed model''s output for a row: a regressor''s prediction, a classifier''s probability';
CREATE FUNCTION predict_columns(name text, column_names text[], VARIADIC "columns" "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_predict_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION predict_columns(text, text[], "any") IS 'crm.predict with the row given as its columns: what the planner makes of crm.predict(name, t) for a table row t';
"#,
    name = "predict_functions",
    requires = ["row_columns_support"]
);

extension_sql!(
    r#"
CREATE FUNCTION score(name text, "row" anyelement) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_score' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT row_columns_support;
COMMENT ON FUNCTION score(text, anyelement) IS 'Probability of the positive class for a row, by the deployed classifier name';
CREATE FUNCTION churn_score("row" anyelement) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_churn_score' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT row_columns_support;
COMMENT ON FUNCTION churn_score(anyelement) IS 'crm.score with the deployed model named by the setting crm.churn_model (default churn)';
CREATE FUNCTION score_columns(name text, column_names text[], VARIADIC "columns" "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_score_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION score_columns(text, text[], "any") IS 'crm.score with the row given as its columns: what the planner makes of crm.score(name, t) for a table row t';
CREATE FUNCTION churn_score_columns(column_names text[], VARIADIC "columns" "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_churn_score_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION churn_score_columns(text[], "any") IS 'crm.churn_score with the row given as its columns: what the planner makes of crm.churn_score(t) for a table row t';
"#,
    name = "score_functions",
    requires = ["row_columns_support"]
);

/// Why this row scores as it does: per-feature contributions in log-odds; with the rows
/// '(other features)' and '(base value)' they add up to the model's log-odds.
#[pg_extern(stable, parallel_safe)]
fn explain(
    name: &str,
    row: AnyElement,
    top: default!(i32, 5),
) -> TableIterator<'static, (name!(feature, String), name!(value, Option<String>), name!(contribution, f64))> {
    let rows = explain_row(name, &row, top).or_raise();
    TableIterator::new(rows)
}

fn explain_row(name: &str, row: &AnyElement, top: i32) -> Result<Vec<(String, Option<String>, f64)>> {
    if top < 1 {
        return Err(CrmError::bad_argument("top", top, "a positive number of features"));
    }
    let entry = supervised_for(name, "explain")?;
    let features = entry.feature_list();
    let mut cells: Vec<Cell<'_>> = Vec::new();
    read_features(row, entry.id(), || entry.model_features(), &mut cells)?;
    let values: Vec<_> = cells.iter().map(Cell::as_value).collect();
    // classifier: log-odds, whose sigmoid is the probability; regressor: the prediction
    // (its log for a log-link model)
    let (base, contributions) = entry.model().explain(&values);
    let mut order: Vec<usize> = (0..contributions.len()).collect();
    order.sort_by(|&a, &b| contributions[b].abs().total_cmp(&contributions[a].abs()));
    let mut out: Vec<(String, Option<String>, f64)> =
        order.iter().take(top as usize).map(|&i| (features[i].0.clone(), cells[i].display(), contributions[i])).collect();
    let rest: f64 = order.iter().skip(top as usize).map(|&i| contributions[i]).sum();
    if contributions.len() > top as usize {
        out.push(("(other features)".to_string(), None, rest));
    }
    out.push(("(base value)".to_string(), None, base));
    Ok(out)
}

/// The deployed logistic model's coefficients in original units (intercept first): the
/// model as plain SQL arithmetic, for BI tools and audits.
#[pg_extern(stable, parallel_safe)]
fn coefficients(name: &str) -> TableIterator<'static, (name!(term, String), name!(coefficient, f64))> {
    let rows = (|| -> Result<Vec<(String, f64)>> {
        let entry = supervised_for(name, "predict")?;
        let coefficients = match &entry {
            Supervised::Classifier(d) => d.model.coefficients(),
            Supervised::Regressor(d) => d.model.coefficients(),
        };
        coefficients.ok_or_else(|| CrmError::Unsupported(format!("model \"{name}\" ({}) has no coefficients", entry.algorithm())))
    })()
    .or_raise();
    TableIterator::new(rows)
}

/// Scores every row of `source` (a table, view or SELECT) with the deployed model `name`,
/// returning the row's `key` column as text beside its score (a classifier's probability,
/// a regressor's prediction). Batched: the source is read through a cursor 10,000 rows at
/// a time and the model decoded once. Where the rows are scored follows `crm.device`:
/// with `auto` a GPU that passed its self-test takes over once the batch reaches
/// `crm.gpu_min_rows` rows (in transfers of `crm.gpu_batch_rows`); `cuda` uses the GPU
/// from the first row or raises an error; `cpu` never uses it. Same scores either way.
#[pg_extern(stable, parallel_restricted)]
fn score_batch(name: &str, source: &str, key: &str) -> TableIterator<'static, (name!(key, Option<String>), name!(score, f64))> {
    TableIterator::new(batch(name, source, key).or_raise())
}

fn batch(name: &str, source: &str, key: &str) -> Result<Vec<(Option<String>, f64)>> {
    let sql = crate::pg::source::keyed_rows_query(source, key)?;
    // a classifier's probability or a regressor's prediction, as crm.predict
    let entry = supervised_for(name, "predict")?;
    let features = entry.feature_set();
    let width = features.width;

    // Where the rows go: the model's kernel (none for some predictors: the CPU under
    // auto, an error under cuda), and under cuda the device now, before any row is read.
    let policy = crate::gpu::sql::policy();
    let kernel = match policy.setting {
        crate::gpu::DeviceSetting::Cpu => None,
        _ => match entry.kernel_model() {
            Ok(kernel) => Some(kernel),
            Err(why) => {
                crate::gpu::kernel_refused(&policy, why)?;
                None
            }
        },
    };
    let device = crate::gpu::sql::BatchDevice::new(policy, kernel.is_some())?;
    let open_device: Option<crate::gpu::executor::OpenDevice<'_>> = kernel.as_ref().map(|(model, link)| {
        let (device, link) = (&device, *link);
        Box::new(move || match device.executor()? {
            Some(executor) => Ok(Some(executor.scorer(model, link, width, device.policy.chunk_rows)?)),
            None => Ok(None),
        }) as crate::gpu::executor::OpenDevice<'_>
    });
    let mut scorer = crate::gpu::executor::RowScorer::new(|x: &[f64]| entry.output_encoded(x), width, policy.threshold(), open_device);

    let mut keys = Vec::new();
    let mut failure: Option<CrmError> = None;
    let mut buffer = Vec::new();
    let mut row_map = None;
    buffer.resize(width, 0.0);
    // Read-only batches (read_in_batches): score_batch is STABLE and may run in parallel
    // mode or inside CREATE TABLE AS, where SPI must not run as an update.
    read_in_batches(&sql, |row| {
        let key_value = row.get::<String>(1)?;
        let Some(datum) = row.datum(2) else {
            return Ok(true);
        };
        // SAFETY: a composite column value of the current batch, valid during this call.
        let read = unsafe {
            for_each_feature(datum, entry.id(), || entry.model_features(), &mut row_map, |i, cell| features.encode_into(i, (&cell).into(), &mut buffer))
        };
        if let Err(e) = read.and_then(|_| scorer.push(&buffer)) {
            failure = Some(e);
            return Ok(false);
        }
        keys.push(key_value);
        Ok(true)
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    scorer.finish_keyed(keys)
}
