//! SQL surface of k-means segments: `train_segments`, `segment`, `segment_distance`,
//! `segment_profile`.

use pgrx::prelude::*;
use pgrx::{AnyElement, JsonB};
use serde_json::json;

use super::model::{self, SegmentModel, SegmentOptions};
use crate::classify::features::ValueKind;
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::pg::json_options::JsonOptions;
use crate::pg::memo;
use crate::pg::model_cache::{deployed, Deployed};
use crate::pg::row_reader::{check_row, for_each_feature, Cell, ModelFeatures, RowMapMemo};
use crate::pg::source::{
    cancel_requested, check_new_model, describe, find_column, is_numeric, quote_ident, raise_pending_cancel, read_in_batches, source_query, store_model,
    NewModel,
};
use crate::registry::{self, Kind};

/// Reads the chosen columns of `query` as one row-major float8 matrix (NaN for NULL),
/// a batch per SPI session so fetched tuples are freed as it goes.
fn read_matrix(query: &str, columns: &[String]) -> Result<Vec<f64>> {
    let select: Vec<String> = columns.iter().map(|c| format!("{}::pg_catalog.float8", quote_ident(c))).collect();
    let sql = format!("SELECT {} FROM ({query}) AS crm_training", select.join(", "));
    let d = columns.len();
    let mut data: Vec<f64> = Vec::new();
    read_in_batches(&sql, |row| {
        for j in 1..=d {
            data.push(row.get::<f64>(j)?.unwrap_or(f64::NAN));
        }
        Ok(true)
    })?;
    Ok(data)
}

/// The feature columns: `options.features`, else every numeric column but the key and
/// the excluded ones.
fn feature_columns(query: &str, opts: &SegmentOptions) -> Result<Vec<String>> {
    let described = describe(query)?;
    for e in &opts.exclude {
        find_column(&described, e, "options.exclude")?;
    }
    if let Some(k) = &opts.key {
        find_column(&described, k, "options.key")?;
    }
    if let Some(listed) = &opts.features {
        if listed.is_empty() {
            return Err(CrmError::bad_argument("options.features", "[]", "a non-empty array of numeric column names"));
        }
        for name in listed {
            let c = find_column(&described, name, "options.features")?;
            if !is_numeric(c.type_oid) {
                return Err(CrmError::bad_argument("options.features", name, "numeric columns (integer, numeric, real, double precision)"));
            }
        }
        return Ok(listed.clone());
    }
    let columns: Vec<String> = described
        .iter()
        .filter(|c| is_numeric(c.type_oid) && !opts.exclude.contains(&c.name) && opts.key.as_deref() != Some(&c.name))
        .map(|c| c.name.clone())
        .collect();
    if columns.is_empty() {
        return Err(CrmError::InvalidArgument(format!(
            "the source has no numeric column to segment on (its columns: {}); k-means needs numeric features",
            described.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(columns)
}

fn feature_spec(model: &SegmentModel) -> serde_json::Value {
    json!(model
        .features
        .iter()
        .map(|f| json!({
            "column": f.name, "type": "numeric",
            "preprocessing": if f.log1p { "log1p, standardise" } else { "standardise" },
            "mean": f.mean, "std": f.std, "log1p": f.log1p,
        }))
        .collect::<Vec<_>>())
}

/// k-means segments of the rows of `source` on its numeric columns, stored as the next
/// version of `name` (deployed unless `options.deploy` is false). `k` NULL chooses k in
/// 2..10 by silhouette.
#[pg_extern(volatile, parallel_unsafe)]
fn train_segments(
    name: Option<&str>,
    source: Option<&str>,
    k: default!(Option<i32>, "NULL"),
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(k, i32), name!(deployed, bool), name!(metrics, JsonB))> {
    let run = || {
        let options = JsonOptions::or_null(&options)?;
        train(required(name, "name")?, required(source, "source")?, k, &options)
    };
    TableIterator::once(run().or_raise())
}

type TrainRow = (i64, String, i32, i32, bool, JsonB);

fn train(name: &str, source: &str, k: Option<i32>, options: &serde_json::Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let opts = SegmentOptions::parse(options)?;
    let query = source_query(source)?;
    let columns = feature_columns(&query, &opts)?;
    let data = read_matrix(&query, &columns)?;
    // Worker threads never call Postgres; this thread polls for a cancel and, once the
    // fit stops, raises it as Postgres's own error.
    let trained = raise_pending_cancel(model::train(&columns, data, k.map(i64::from), &opts, &cancel_requested))?;
    let bytes = registry::encode(Kind::Segments, &trained.model)?;
    let hyper = json!({
        "k": k, "n_init": opts.n_init, "max_iter": opts.max_iter, "tol": opts.tol, "seed": opts.seed,
        "k_min": opts.k_min, "k_max": opts.k_max, "silhouette_sample": opts.silhouette_sample,
        "log1p": trained.model.features.iter().filter(|f| f.log1p).map(|f| f.name.clone()).collect::<Vec<_>>(),
    });
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Segments,
        algorithm: "kmeans",
        target: None,
        positive_class: None,
        features: feature_spec(&trained.model),
        hyperparameters: hyper,
        metrics: trained.metrics.clone(),
        training_rows: trained.training_rows as i64,
        holdout_rows: None,
        bytes,
    })?;
    if opts.deploy {
        registry::sql::deploy_version(name, version, "train_segments: newest version")?;
    } else {
        pgrx::notice!("model \"{name}\" version {version} kept undeployed (options.deploy = false); deploy it with crm.deploy('{name}', {version})");
    }
    Ok((id, name.to_string(), version, trained.model.k as i32, opts.deploy, JsonB(trained.metrics)))
}

fn segments_of(name: &str) -> Result<std::rc::Rc<Deployed<SegmentModel>>> {
    deployed::<SegmentModel>(name)
}

fn model_of<'a>(entry: &'a Deployed<SegmentModel>, _name: &str) -> Result<&'a SegmentModel> {
    Ok(&entry.model)
}

/// What one call site keeps between rows (see `classify::sql::CallMemo`).
struct SegmentMemo {
    name: String,
    model: std::rc::Rc<Deployed<SegmentModel>>,
    row_map: RowMapMemo,
    raw: Vec<f64>,
    scratch: Vec<f64>,
}

fn assign_with_memo(name: &str, row: &AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<(i32, f64)>> {
    // SAFETY: the live call info of crm.segment/segment_distance, whose fn_extra holds only this memo.
    let memo = unsafe {
        memo::call_site(
            fcinfo,
            |m: &SegmentMemo| m.name == name,
            || {
                // The argument's type is fixed for a call site: checked once, with the memo.
                check_row(row, "segment")?;
                Ok(SegmentMemo { name: name.to_string(), model: segments_of(name)?, row_map: None, raw: Vec::new(), scratch: Vec::new() })
            },
        )?
    };
    let entry = &memo.model;
    let model = &entry.model;
    let raw = &mut memo.raw;
    raw.clear();
    let features = || ModelFeatures { who: entry.who(), features: model.features.iter().map(|f| (f.name.clone(), ValueKind::Number)).collect() };
    // SAFETY: a composite datum valid for this call.
    unsafe {
        for_each_feature(row.datum(), entry.id, features, &mut memo.row_map, |_, cell| {
            raw.push(match cell {
                Cell::Number(x) => x,
                _ => f64::NAN,
            })
        })?
    };
    Ok(model.assign(raw, &mut memo.scratch))
}

/// The segment (1 = the largest at training) of a row, by the deployed model `name`;
/// NULL when every feature of the row is NULL. Columns are matched by name.
#[pg_extern(stable, parallel_safe)]
fn segment(name: &str, row: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> Option<i32> {
    assign_with_memo(name, &row, fcinfo).or_raise().map(|(s, _)| s)
}

/// How far a row lies from the centre of its segment, in standardised units (the
/// population's standard deviations): small = a typical member, large = an outlier.
#[pg_extern(stable, parallel_safe)]
fn segment_distance(name: &str, row: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> Option<f64> {
    assign_with_memo(name, &row, fcinfo).or_raise().map(|(_, d)| d)
}

/// Segments every row of `source` (a table, view or SELECT) with the deployed model
/// `name`: the row's `key` column as text, its segment and distance (NULL where every
/// feature is NULL), as `crm.segment` and `crm.segment_distance` give them. Batched
/// like `crm.score_batch`, and like it on a GPU when `crm.device` says so (the same
/// segments; distances within 1e-9 relative).
#[pg_extern(stable, parallel_restricted)]
fn segment_batch(
    name: &str,
    source: &str,
    key: &str,
) -> TableIterator<'static, (name!(key, Option<String>), name!(segment, Option<i32>), name!(distance, Option<f64>))> {
    TableIterator::new(segment_rows(name, source, key).or_raise())
}

type SegmentedRow = (Option<String>, Option<i32>, Option<f64>);

fn segment_rows(name: &str, source: &str, key: &str) -> Result<Vec<SegmentedRow>> {
    let sql = crate::pg::source::keyed_rows_query(source, key)?;
    let entry = segments_of(name)?;
    let model = &entry.model;
    let width = model.features.len();

    // Where the rows go (see crm.score_batch): under cuda the device now, before any row.
    let policy = crate::gpu::sql::policy();
    let kernel = match policy.setting {
        crate::gpu::DeviceSetting::Cpu => None,
        _ => match crate::gpu::layout::Segments::from_model(model) {
            Ok(segments) => Some(segments),
            Err(why) => {
                crate::gpu::kernel_refused(&policy, why)?;
                None
            }
        },
    };
    let device = crate::gpu::sql::BatchDevice::new(policy, kernel.is_some())?;
    let open_device: Option<crate::gpu::executor::OpenDevice<'_, Option<(i32, f64)>>> = kernel.as_ref().map(|segments| {
        let device = &device;
        Box::new(move || {
            Ok(device.executor()?.map(|executor| {
                Box::new(crate::gpu::executor::SegmentChunks { executor, segments, chunk_rows: device.policy.chunk_rows })
                    as Box<dyn crate::gpu::executor::ChunkScorer<Option<(i32, f64)>>>
            }))
        }) as crate::gpu::executor::OpenDevice<'_, Option<(i32, f64)>>
    });
    let scratch = std::cell::RefCell::new(Vec::new());
    let cpu = |raw: &[f64]| model.assign(raw, &mut scratch.borrow_mut());
    let mut assigner = crate::gpu::executor::RowScorer::new(cpu, width, policy.threshold(), open_device);

    let features = || ModelFeatures { who: entry.who(), features: model.features.iter().map(|f| (f.name.clone(), ValueKind::Number)).collect() };
    let mut keys = Vec::new();
    let mut raw = Vec::with_capacity(width);
    let mut row_map = None;
    let mut failure: Option<CrmError> = None;
    read_in_batches(&sql, |row| {
        let key_value = row.get::<String>(1)?;
        let Some(datum) = row.datum(2) else {
            return Ok(true);
        };
        raw.clear();
        // SAFETY: a composite column value of the current batch, valid during this call.
        let read = unsafe {
            for_each_feature(datum, entry.id, features, &mut row_map, |_, cell| {
                raw.push(match cell {
                    Cell::Number(x) => x,
                    _ => f64::NAN,
                })
            })
        };
        if let Err(e) = read.and_then(|_| assigner.push(&raw)) {
            failure = Some(e);
            return Ok(false);
        }
        keys.push(key_value);
        Ok(true)
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(assigner.finish_keyed(keys)?.into_iter().map(|(k, a)| (k, a.map(|(s, _)| s), a.map(|(_, d)| d))).collect())
}

type ProfileRow = (i32, i64, f64, String, f64, f64, f64, f64, f64, Option<f64>, f64, f64);

/// One row per segment and feature: size, share of customers, and the feature's mean,
/// stddev, min and max inside the segment in original units, beside the population
/// mean; `index` = 100 × segment mean / population mean; `centroid_z` = the segment
/// centre in standard deviations from the population (after log1p where applied) and
/// `centroid` the same centre in original units.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn segment_profile(
    name: &str,
) -> TableIterator<
    'static,
    (
        name!(segment, i32),
        name!(size, i64),
        name!(share, f64),
        name!(feature, String),
        name!(mean, f64),
        name!(stddev, f64),
        name!(min, f64),
        name!(max, f64),
        name!(overall_mean, f64),
        name!(index, Option<f64>),
        name!(centroid_z, f64),
        name!(centroid, f64),
    ),
> {
    let rows = (|| -> Result<Vec<ProfileRow>> {
        let entry = segments_of(name)?;
        let model = model_of(&entry, name)?;
        let total: u64 = model.sizes.iter().sum();
        let mut out = Vec::with_capacity(model.k * model.features.len());
        for (s, features) in model.profile.iter().enumerate() {
            for (j, p) in features.iter().enumerate() {
                let overall = model.overall_mean[j];
                out.push((
                    s as i32 + 1,
                    model.sizes[s] as i64,
                    model.sizes[s] as f64 / total.max(1) as f64,
                    model.features[j].name.clone(),
                    p.mean,
                    p.stddev,
                    p.min,
                    p.max,
                    overall,
                    (overall != 0.0).then(|| 100.0 * p.mean / overall),
                    p.centroid_z,
                    p.centroid,
                ));
            }
        }
        Ok(out)
    })()
    .or_raise();
    TableIterator::new(rows)
}
