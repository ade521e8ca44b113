//! SQL surface of recommendations: `train_recommender`, `recommend`, `recommend_all`,
//! `similar_items`.

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use super::model::{auto, Model, Recommender};
use super::options::{Choice, RecommenderOptions};
use super::InteractionsBuilder;
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::pg::json_options::JsonOptions;
use crate::pg::model_cache::{deployed, Deployed};
use crate::pg::source::{
    cancel_requested, check_new_model, describe, find_column, interrupt, is_numeric, is_time, quote_ident, raise_pending_cancel, read_in_batches, source_query,
    store_model, ColumnInfo, NewModel, TrainRow,
};
use crate::registry::{self, Kind};

/// Column names tried, in order, when `options` does not name the column.
const CUSTOMER_NAMES: &[&str] = &["customer", "customer_id", "user", "user_id", "userid", "client_id", "account_id"];
const ITEM_NAMES: &[&str] = &["item", "item_id", "product", "product_id", "sku", "movie_id", "movieid"];
const TIME_NAMES: &[&str] = &["timestamp", "ts", "time", "occurred_at", "ordered_at", "created_at"];

/// The most any one list may hold: a bigger k is a mistake, not a recommendation.
const MAX_K: i32 = 10_000;

fn pick<'a>(described: &'a [ColumnInfo], explicit: Option<&str>, names: &[&str], what: &str) -> Result<Option<&'a ColumnInfo>> {
    if let Some(name) = explicit {
        return find_column(described, name, &format!("options.{what}")).map(Some);
    }
    Ok(names.iter().find_map(|n| described.iter().find(|c| c.name == *n)))
}

struct Columns {
    select: String,
    names: serde_json::Value,
    has_time: bool,
}

/// Which columns are customer, item, weight and time, and the SELECT list reading them.
fn columns(described: &[ColumnInfo], o: &RecommenderOptions) -> Result<Columns> {
    let listing = || described.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let customer = pick(described, o.customer.as_deref(), CUSTOMER_NAMES, "customer")?
        .ok_or_else(|| CrmError::UndefinedColumn(format!("no customer column: name it with options.customer (the source has: {})", listing())))?;
    let item = pick(described, o.item.as_deref(), ITEM_NAMES, "item")?
        .ok_or_else(|| CrmError::UndefinedColumn(format!("no item column: name it with options.item (the source has: {})", listing())))?;
    let weight = pick(described, o.weight.as_deref(), &["weight"], "weight")?;
    if let Some(w) = weight {
        if !is_numeric(w.type_oid) {
            return Err(CrmError::bad_argument("options.weight", &w.name, "a numeric column"));
        }
    }
    let time = match o.time.as_deref() {
        Some(_) => pick(described, o.time.as_deref(), &[], "time")?,
        None => {
            let dated: Vec<&ColumnInfo> = described.iter().filter(|c| is_time(c.type_oid)).collect();
            match dated.as_slice() {
                [one] => Some(*one),
                _ => TIME_NAMES.iter().find_map(|n| described.iter().find(|c| c.name == *n && (is_numeric(c.type_oid) || is_time(c.type_oid)))),
            }
        }
    };
    if let Some(t) = time {
        if !is_numeric(t.type_oid) && !is_time(t.type_oid) {
            return Err(CrmError::bad_argument("options.time", &t.name, "a date, timestamp or numeric column"));
        }
    }
    let weight_sql = weight.map_or("1::pg_catalog.float8".to_string(), |w| format!("{}::pg_catalog.float8", quote_ident(&w.name)));
    let time_sql = match time {
        Some(t) if is_time(t.type_oid) => format!("EXTRACT(epoch FROM {})::pg_catalog.float8", quote_ident(&t.name)),
        Some(t) => format!("{}::pg_catalog.float8", quote_ident(&t.name)),
        None => "NULL::pg_catalog.float8".to_string(),
    };
    Ok(Columns {
        select: format!("{}::pg_catalog.text, {}::pg_catalog.text, {weight_sql}, {time_sql}", quote_ident(&customer.name), quote_ident(&item.name)),
        names: json!({
            "customer": customer.name, "item": item.name,
            "weight": weight.map(|w| w.name.clone()), "time": time.map(|t| t.name.clone()),
        }),
        has_time: time.is_some(),
    })
}

struct Loaded {
    builder: InteractionsBuilder,
    rows_read: u64,
    rows_skipped: u64,
}

/// Reads the interactions, a batch per SPI session (fetched tuples freed as it goes).
/// Rows with a NULL customer, item or weight, or a weight that is not a number > 0, are
/// skipped and counted.
fn load(query: &str, select: &str) -> Result<Loaded> {
    let sql = format!("SELECT {select} FROM ({query}) AS crm_interactions");
    let mut loaded = Loaded { builder: InteractionsBuilder::new(), rows_read: 0, rows_skipped: 0 };
    let mut failure: Option<CrmError> = None;
    read_in_batches(&sql, |row| {
        loaded.rows_read += 1;
        let (Some(customer), Some(item), Some(weight)) = (row.get::<&str>(1)?, row.get::<&str>(2)?, row.get::<f64>(3)?) else {
            loaded.rows_skipped += 1;
            return Ok(true);
        };
        let time = row.get::<f64>(4)?;
        if !(weight.is_finite() && weight > 0.0) || time.is_some_and(|t| !t.is_finite()) {
            loaded.rows_skipped += 1;
            return Ok(true);
        }
        if let Err(e) = loaded.builder.push(customer, item, weight, time) {
            failure = Some(CrmError::InvalidArgument(format!("train_recommender: {e}")));
            return Ok(false);
        }
        Ok(true)
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(loaded),
    }
}

fn algorithm_name(model: &Model) -> &'static str {
    match model.recommender() {
        Recommender::Popular => "popular",
        Recommender::ItemKnn(_) => "item_knn",
        Recommender::Als(_) => "als",
    }
}

fn metrics_json(m: &super::Metrics) -> serde_json::Value {
    json!({"precision_at_10": m.precision, "recall_at_10": m.recall, "ndcg_at_10": m.ndcg,
           "hit_rate_at_10": m.hit_rate, "coverage": m.coverage, "customers": m.customers})
}

/// Trains a recommender on the interactions of `source` and stores it as the next
/// version of `name` (deployed unless `options.deploy` is false).
#[pg_extern(volatile, parallel_unsafe)]
fn train_recommender(
    name: &str,
    source: &str,
    algorithm: default!(&str, "'auto'"),
    options: default!(JsonOptions, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(algorithm, String), name!(deployed, bool), name!(metrics, JsonB))>
{
    TableIterator::once(options.value("options").and_then(|options| train(name, source, algorithm, options)).or_raise())
}

fn train(name: &str, source: &str, algorithm: &str, options: &serde_json::Value) -> Result<TrainRow> {
    let started = std::time::Instant::now();
    check_new_model(name)?;
    let opts = RecommenderOptions::parse(algorithm, options)?;
    let query = source_query(source)?;
    let described = describe(&query)?;
    let cols = columns(&described, &opts)?;
    let loaded = load(&query, &cols.select)?;
    let interactions = loaded.builder.finish();
    if interactions.n_rows() == 0 {
        return Err(CrmError::InvalidArgument(format!(
            "the source has no usable interaction ({} rows read, {} with a NULL customer, item or weight, or a weight <= 0)",
            loaded.rows_read, loaded.rows_skipped
        )));
    }
    interrupt();
    let to_error = |e: super::RecommendError| match e {
        super::RecommendError::Cancelled => CrmError::Canceled("train_recommender was cancelled".into()),
        e => CrmError::InvalidArgument(format!("train_recommender: {e}")),
    };
    // Worker threads never call Postgres; this thread polls for a cancel and, once the
    // fit stops, raises it as Postgres's own error.
    let (model, report) = if opts.evaluate || opts.choice == Choice::Auto {
        let (model, report) = raise_pending_cancel(auto(&interactions, &opts.auto_options(), &cancel_requested)).map_err(to_error)?;
        (model, Some(report))
    } else {
        let candidate = opts.candidates().remove(0);
        (raise_pending_cancel(Model::fit(&interactions, &candidate.algorithm, 0, &cancel_requested)).map_err(to_error)?, None)
    };
    interrupt();
    let mut metrics = json!({
        "rows_read": loaded.rows_read, "rows_skipped": loaded.rows_skipped,
        "interactions": interactions.n_rows(), "customers": model.n_customers(), "items": model.n_items(),
        "holdout": if cols.has_time { "last interactions by time" } else { "random" },
        "columns": cols.names,
    });
    if let Some(report) = &report {
        if let Some(m) = report.candidates.get(report.winner).and_then(|c| c.metrics.as_ref()) {
            if let (Some(into), serde_json::Value::Object(from)) = (metrics.as_object_mut(), metrics_json(m)) {
                into.extend(from.into_iter().filter(|(k, _)| k != "customers"));
            }
        }
        metrics["test_customers"] = json!(report.test_customers);
        metrics["chosen"] = json!(report.candidates.get(report.winner).map(|c| c.name.clone()));
        metrics["time_budget"] = json!(opts.search_budget());
        metrics["candidates"] = json!(report
            .candidates
            .iter()
            .map(|c| {
                let mut j = c.metrics.as_ref().map(metrics_json).unwrap_or_else(|| json!({}));
                j["candidate"] = json!(c.name);
                j["train_seconds"] = json!(c.train_seconds);
                j
            })
            .collect::<Vec<_>>());
    }
    metrics["training_seconds"] = json!(started.elapsed().as_secs_f64());
    let algorithm_used = algorithm_name(&model);
    let bytes = registry::encode(Kind::Recommender, &model)?;
    let hyper = json!({
        "algorithm": algorithm, "neighbours": opts.knn.neighbours, "similarity": format!("{:?}", opts.knn.similarity).to_lowercase(),
        "shrinkage": opts.knn.shrinkage, "factors": opts.als.factors, "regularization": opts.als.regularization,
        "scale_regularization": opts.als.scale_regularization, "alpha": opts.als.alpha, "iterations": opts.als.iterations,
        "cg_steps": opts.als.cg_steps, "seed": opts.als.seed, "test_fraction": opts.split.test_fraction,
        "min_interactions": opts.split.min_interactions,
    });
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Recommender,
        algorithm: algorithm_used,
        target: None,
        positive_class: None,
        features: json!([cols.names]),
        hyperparameters: hyper,
        metrics: metrics.clone(),
        training_rows: interactions.n_rows() as i64,
        holdout_rows: report.as_ref().map(|r| r.test_rows as i64),
        bytes,
    })?;
    if opts.deploy {
        registry::sql::deploy_version(name, version, "train_recommender: newest version")?;
    } else {
        pgrx::notice!("model \"{name}\" version {version} kept undeployed (options.deploy = false); deploy it with crm.deploy('{name}', {version})");
    }
    Ok((id, name.to_string(), version, algorithm_used.to_string(), opts.deploy, JsonB(metrics)))
}

fn recommender_of(name: &str) -> Result<std::rc::Rc<Deployed<Model>>> {
    deployed::<Model>(name)
}

fn model_of<'a>(entry: &'a Deployed<Model>, _name: &str) -> Result<&'a Model> {
    Ok(&entry.model)
}

fn check_k(k: i32) -> Result<usize> {
    if (1..=MAX_K).contains(&k) {
        Ok(k as usize)
    } else {
        Err(CrmError::bad_argument("k", k, &format!("an integer from 1 to {MAX_K}")))
    }
}

/// Item ids to indices; ids the model does not know are dropped (they cannot be
/// recommended anyway).
fn item_indices(model: &Model, ids: &Option<Vec<Option<String>>>) -> Option<Vec<u32>> {
    ids.as_ref().map(|ids| ids.iter().flatten().filter_map(|id| model.item_index(id)).collect())
}

type Ranked = (String, f64, i32);

fn ranked(model: &Model, list: Vec<(u32, f32)>) -> impl Iterator<Item = Ranked> + '_ {
    list.into_iter().enumerate().map(move |(r, (item, score))| (model.item_id(item).unwrap_or_default().to_string(), f64::from(score), r as i32 + 1))
}

/// Top-k items for one customer, best first. An unknown customer (or NULL) gets the
/// most popular items. `exclude` drops items (e.g. out of stock); `candidates`, when
/// given, restricts the list to those items (e.g. one category).
#[pg_extern(stable, parallel_safe)]
fn recommend(
    name: Option<&str>,
    customer: Option<&str>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    candidates: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<'static, (name!(item, String), name!(score, f64), name!(rank, i32))> {
    let rows = (|| -> Result<Vec<Ranked>> {
        let (name, exclude_seen) = (required(name, "name")?, required(exclude_seen, "exclude_seen")?);
        let k = check_k(required(k, "k")?)?;
        let entry = recommender_of(name)?;
        let model = model_of(&entry, name)?;
        let exclude = item_indices(model, &exclude).unwrap_or_default();
        let candidates = item_indices(model, &candidates);
        let list = model.recommend(customer.and_then(|c| model.customer_index(c)), k, exclude_seen, &exclude, candidates.as_deref());
        Ok(ranked(model, list).collect())
    })()
    .or_raise();
    TableIterator::new(rows)
}

/// Top-k items for many customers at once (every customer of the model when `customers`
/// is NULL), computed on all cores: for BI tools and batch jobs.
#[pg_extern(stable, parallel_safe)]
fn recommend_all(
    name: Option<&str>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    customers: default!(Option<Vec<Option<String>>>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    candidates: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<'static, (name!(customer, String), name!(item, String), name!(score, f64), name!(rank, i32))> {
    let rows = (|| -> Result<Vec<(String, String, f64, i32)>> {
        let (name, exclude_seen) = (required(name, "name")?, required(exclude_seen, "exclude_seen")?);
        let k = check_k(required(k, "k")?)?;
        let entry = recommender_of(name)?;
        let model = model_of(&entry, name)?;
        let exclude = item_indices(model, &exclude).unwrap_or_default();
        let candidates = item_indices(model, &candidates);
        let who: Vec<(String, Option<u32>)> = match &customers {
            Some(ids) => ids.iter().flatten().map(|id| (id.clone(), model.customer_index(id))).collect(),
            None => (0..model.n_customers() as u32).map(|c| (model.customer_id(c).unwrap_or_default().to_string(), Some(c))).collect(),
        };
        let indices: Vec<Option<u32>> = who.iter().map(|(_, c)| *c).collect();
        let lists = match lists_on_device(model, &indices, k, exclude_seen, &exclude, candidates.is_some())? {
            Some(lists) => lists,
            None => raise_pending_cancel(model.recommend_many(&indices, k, exclude_seen, &exclude, candidates.as_deref(), 0, &cancel_requested))?,
        };
        let mut out = Vec::with_capacity(lists.len() * k);
        for ((id, _), list) in who.into_iter().zip(lists) {
            out.extend(ranked(model, list).map(|(item, score, rank)| (id.clone(), item, score, rank)));
        }
        Ok(out)
    })()
    .or_raise();
    TableIterator::new(rows)
}

/// One customer's recommendations: (item index, score), best first.
type RankedList = Vec<(u32, f32)>;

/// `recommend_all`'s lists on the GPU when `crm.device` says so (see `crm.score_batch`):
/// an ALS model without a candidate list, for at least `crm.gpu_min_rows` customers under
/// `auto`. None: the CPU (`cuda` with a request the kernel cannot serve is an error).
fn lists_on_device(
    model: &Model,
    customers: &[Option<u32>],
    k: usize,
    exclude_seen: bool,
    exclude: &[u32],
    candidates: bool,
) -> Result<Option<Vec<RankedList>>> {
    let policy = crate::gpu::sql::policy();
    if policy.setting == crate::gpu::DeviceSetting::Cpu || customers.len() < policy.threshold() {
        return Ok(None);
    }
    if candidates {
        crate::gpu::kernel_refused(&policy, CrmError::Unsupported("recommendations from a candidate list have no GPU kernel".into()))?;
        return Ok(None);
    }
    if !matches!(model.recommender(), Recommender::Als(_)) {
        crate::gpu::kernel_refused(&policy, CrmError::Unsupported(format!("{} recommenders have no GPU kernel (only als)", algorithm_name(model))))?;
        return Ok(None);
    }
    let Some(device) = crate::gpu::sql::batch_device(&policy)? else {
        return Ok(None);
    };
    let lists = crate::gpu::executor::recommend_als(device.as_ref(), model, customers, k, exclude_seen, exclude, policy.chunk_rows)?;
    crate::gpu::record_device_batch(customers.len());
    Ok(Some(lists))
}

/// Items most like `item` ("customers who bought this also bought"): the stored
/// neighbours for item_knn, cosine of the item factors for als, the most popular other
/// items for popular. An item the model does not know gives no rows.
#[pg_extern(stable, parallel_safe)]
fn similar_items(name: &str, item: &str, k: default!(i32, 10)) -> TableIterator<'static, (name!(item, String), name!(score, f64), name!(rank, i32))> {
    let rows = (|| -> Result<Vec<Ranked>> {
        let k = check_k(k)?;
        let entry = recommender_of(name)?;
        let model = model_of(&entry, name)?;
        Ok(match model.item_index(item) {
            Some(index) => ranked(model, model.similar_items(index, k)).collect(),
            None => Vec::new(),
        })
    })()
    .or_raise();
    TableIterator::new(rows)
}
