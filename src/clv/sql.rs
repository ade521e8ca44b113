//! SQL surface of CLV: `crm.train_clv`; `crm.p_alive`, `crm.expected_purchases`,
//! `crm.expected_spend` and `crm.clv`, each for a `crm.rfm` summary (raw V1 functions:
//! the composite is read with a descriptor kept per call site, not looked up per row) and
//! for plain numbers (BI tools that cannot build a composite); `crm.value_at_risk`; and
//! `crm.customer_profile`, the one-row-per-customer table a CRM analyst opens first.

use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::{FromDatum, JsonB};
use serde_json::json;

use super::model::{days_per_unit, ClvModel, DaySummary, ResidualMemo};
use super::purchases::{self, PurchaseModel};
use super::spend;
use super::Customer;
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::options::{number, object, text, unknown};
use crate::pg::aggregate::V1_FINFO;
use crate::pg::json_options::JsonOptions;
use crate::pg::memo;
use crate::pg::model_cache::{deployed, Deployed};
use crate::pg::source::{
    cancel_requested, check_new_model, describe, find_column, is_numeric, is_time, pick_column, quote_ident, raise_pending_cancel, read_in_batches, read_one,
    source_query, store_model, ColumnInfo, NewModel, TrainRow,
};
use crate::registry::{self, Kind};

/// Column names tried, in order, when `options` does not name the column.
const CUSTOMER_NAMES: &[&str] = &["customer_id", "customer", "client_id", "user_id", "account_id", "user"];
const ORDER_AT_NAMES: &[&str] = &["order_at", "ordered_at", "order_date", "order_time", "purchase_date", "purchased_at", "date", "created_at", "ts"];
const AMOUNT_NAMES: &[&str] = &["amount", "order_amount", "total", "revenue", "dollar_value", "value", "spend", "sales", "price"];

/// The customer, order time and amount columns of an orders source: named in options,
/// else the first conventional name present, else the only column of the right type.
struct OrderColumns {
    customer: String,
    order_at: String,
    amount: String,
}

fn order_columns(described: &[ColumnInfo], options: &OrderOptions) -> Result<OrderColumns> {
    let pick = |given: &Option<String>, conventional: &[&str], fits: &dyn Fn(&ColumnInfo) -> bool, what: &str| {
        pick_column(described, given.as_deref(), conventional, fits, what)
    };
    let customer = pick(&options.customer, CUSTOMER_NAMES, &|_| true, "customer")?;
    let order_at = pick(&options.order_at, ORDER_AT_NAMES, &|c| is_time(c.type_oid), "order_at")?;
    let amount = pick(&options.amount, AMOUNT_NAMES, &|c| is_numeric(c.type_oid) && c.name != customer, "amount")?;
    let type_of = |name: &str| described.iter().find(|c| c.name == name).map(|c| c.type_oid).unwrap_or(pg_sys::InvalidOid);
    if !is_time(type_of(&order_at)) {
        return Err(CrmError::DatatypeMismatch(format!("order_at column \"{order_at}\" must be a date, timestamp or timestamptz")));
    }
    if !is_numeric(type_of(&amount)) {
        return Err(CrmError::DatatypeMismatch(format!(
            "amount column \"{amount}\" must be numeric (smallint, integer, bigint, real, double precision, numeric)"
        )));
    }
    Ok(OrderColumns { customer, order_at, amount })
}

/// The options shared by every function that reads an orders source.
#[derive(Default)]
struct OrderOptions {
    customer: Option<String>,
    order_at: Option<String>,
    amount: Option<String>,
    /// A timestamptz literal, as given.
    as_of: Option<String>,
}

impl OrderOptions {
    /// Reads the key if it is one of these options; false when it is not.
    fn read(&mut self, key: &str, v: &serde_json::Value) -> Result<bool> {
        match key {
            "customer" => self.customer = Some(text(key, v)?),
            "order_at" => self.order_at = Some(text(key, v)?),
            "amount" => self.amount = Some(text(key, v)?),
            "as_of" => self.as_of = Some(text(key, v)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The orders of `source` as a query of (customer text, order_at timestamptz, amount
/// float8), and the calibration end as a quoted timestamptz literal (options.as_of, else
/// the latest order).
fn orders_query(source: &str, options: &OrderOptions) -> Result<(String, OrderColumns, String)> {
    let query = source_query(source)?;
    let described = describe(&query)?;
    let columns = order_columns(&described, options)?;
    let orders = format!(
        "SELECT {}::pg_catalog.text AS customer, {}::pg_catalog.timestamptz AS order_at, {}::pg_catalog.float8 AS amount FROM ({query}) AS crm_orders",
        quote_ident(&columns.customer),
        quote_ident(&columns.order_at),
        quote_ident(&columns.amount)
    );
    let as_of = match &options.as_of {
        Some(given) => read_one::<String>("SELECT pg_catalog.quote_literal($1::pg_catalog.timestamptz)", &[given.as_str().into()])
            .map_err(|_| CrmError::bad_argument("options.as_of", given, "a timestamptz such as '1997-09-30' or 'now'"))?,
        None => read_one::<String>(&format!("SELECT pg_catalog.quote_literal(pg_catalog.max(order_at)) FROM ({orders}) AS o"), &[])?,
    }
    .ok_or_else(|| CrmError::InvalidArgument("the orders source has no order with a time".into()))?;
    Ok((orders, columns, as_of))
}

struct TrainOptions {
    orders: OrderOptions,
    /// None = 'auto': both models, the higher likelihood kept.
    model: Option<PurchaseModel>,
    penalizer: f64,
    time_unit: String,
    days_per_unit: f64,
}

fn parse_options(options: &serde_json::Value) -> Result<TrainOptions> {
    let empty = serde_json::Map::new();
    let map = object(options, &empty, "{\"as_of\": \"1997-09-30\", \"model\": \"mbg_nbd\"}")?;
    let mut o = TrainOptions { orders: OrderOptions::default(), model: None, penalizer: 0.0, time_unit: "days".into(), days_per_unit: 1.0 };
    for (key, v) in map {
        if o.orders.read(key, v)? {
            continue;
        }
        match key.as_str() {
            "model" => {
                let name = text(key, v)?.to_ascii_lowercase();
                o.model = match name.as_str() {
                    "auto" => None,
                    other => Some(PurchaseModel::parse(other).ok_or_else(|| CrmError::bad_argument("options.model", v, "'auto', 'bg_nbd' or 'mbg_nbd'"))?),
                };
            }
            "penalizer" => o.penalizer = number(key, v, 0.0, 1e6, "a number ≥ 0 (lifetimes' penalizer_coef)")?,
            "time_unit" => {
                let unit = text(key, v)?.to_ascii_lowercase();
                o.days_per_unit = days_per_unit(&unit).ok_or_else(|| CrmError::bad_argument("options.time_unit", v, "'days', 'weeks', 'months' or 'years'"))?;
                o.time_unit = unit;
            }
            _ => return Err(unknown(key, "train_clv", "customer, order_at, amount, as_of, model, penalizer, time_unit")),
        }
    }
    Ok(o)
}

/// Per-customer summaries of the orders up to as_of, through `crm.rfm_agg` (the aggregate
/// the scoring functions' summaries come from, so training and scoring count alike).
fn load_customers(orders: &str, as_of: &str, unit: f64) -> Result<Vec<Customer>> {
    let query = format!(
        "SELECT (s).repeat_frequency::pg_catalog.float8, (s).t_days OPERATOR(pg_catalog.-) (s).recency_days, (s).t_days, (s).monetary_mean \
         FROM (SELECT crm.rfm_agg(order_at, amount, {as_of}::pg_catalog.timestamptz) AS s FROM ({orders}) AS o \
               WHERE customer IS NOT NULL GROUP BY customer) AS summaries WHERE s IS NOT NULL"
    );
    let mut customers = Vec::new();
    read_in_batches(&query, |row| {
        if let (Some(x), Some(tx), Some(t), Some(m)) = (row.get::<f64>(1)?, row.get::<f64>(2)?, row.get::<f64>(3)?, row.get::<f64>(4)?) {
            customers.push(Customer { frequency: x, recency: tx / unit, age: t / unit, monetary: m });
        }
        Ok(true)
    })?;
    Ok(customers)
}

/// Fits the purchase and spend models of `source`'s orders and stores them as the next
/// version of `name`, deployed (the newest CLV version is the one used).
#[pg_extern(volatile, parallel_unsafe)]
fn train_clv(
    name: Option<&str>,
    source: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<'static, (name!(id, i64), name!(name, String), name!(version, i32), name!(algorithm, String), name!(deployed, bool), name!(metrics, JsonB))>
{
    let run = || {
        let options = JsonOptions::or_null(&options)?;
        train(required(name, "name")?, required(source, "source")?, &options)
    };
    TableIterator::once(run().or_raise())
}

fn train(name: &str, source: &str, options: &serde_json::Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let opts = parse_options(options)?;
    let started = std::time::Instant::now();
    let (orders, columns, as_of) = orders_query(source, &opts.orders)?;
    let customers = load_customers(&orders, &as_of, opts.days_per_unit)?;
    let candidates = match opts.model {
        Some(m) => vec![m],
        None => vec![PurchaseModel::BgNbd, PurchaseModel::MbgNbd],
    };
    let mut fits = Vec::new();
    let mut failures = Vec::new();
    for model in &candidates {
        match raise_pending_cancel(purchases::fit(&customers, *model, opts.penalizer, 0, &cancel_requested)) {
            Ok(fit) => fits.push(fit),
            Err(e @ CrmError::Canceled(_)) => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    // 'auto' keeps the model that fitted when the other did not, and says so.
    let Some(chosen) = fits.iter().max_by(|x, y| x.log_likelihood.total_cmp(&y.log_likelihood)).cloned() else {
        return Err(failures.into_iter().next().unwrap_or_else(|| CrmError::InvalidArgument("train_clv: no purchase model was fitted".into())));
    };
    for failure in &failures {
        pgrx::warning!("{}; kept the other model", failure.message());
    }
    let pairs: Vec<(f64, f64)> = customers.iter().map(|c| (c.frequency, c.monetary)).collect();
    let spend_fit = spend::fit(&pairs, opts.penalizer)?;
    let model = ClvModel::new(&chosen, &spend_fit, opts.days_per_unit);
    use crate::registry::StoredModel;
    model.validate().map_err(|why| CrmError::InvalidArgument(format!("train_clv: the fit gave unusable parameters ({why})")))?;
    let algorithm = chosen.params.model.name();
    if !chosen.converged {
        pgrx::warning!(
            "train_clv: the {algorithm} fit stopped with gradient norm {:.2e} (not a clean optimum); the parameters are usable but may move: set options.penalizer (a small one such as 1e-8 in days)",
            chosen.gradient_norm
        );
    }
    // a and b without bound: every customer drops out after a purchase with the same
    // probability a/(a+b) (no heterogeneity in dropout); the forecasts are that limit's.
    let alike_dropout = chosen.params.a + chosen.params.b > 1e4;
    if alike_dropout {
        pgrx::warning!(
            "train_clv: every customer drops out after a purchase with about the same probability ({:.3}): a and b grow without bound; the forecasts are those of that limit, set options.penalizer (a small one such as 1e-8 in days) to keep a and b finite",
            chosen.params.a / (chosen.params.a + chosen.params.b)
        );
    }
    if spend_fit.alike {
        pgrx::warning!(
            "train_clv: every customer has about the same mean amount per purchase ({:.2}): the spend model's q and v grow without bound; expected spend is that mean for everyone",
            spend_fit.params.population_mean()
        );
    }
    // r and α growing together: every customer buys at the same rate r/α.
    let rate_alike = chosen.params.r > 1e4;
    if rate_alike {
        pgrx::warning!(
            "train_clv: every customer buys at about the same rate ({:.4} purchase days per day) while alive: r and alpha grow without bound; the forecasts are those of that limit",
            chosen.params.r / chosen.params.alpha * opts.days_per_unit.recip()
        );
    }
    let correlation = spend_fit.frequency_monetary_correlation;
    if correlation.abs() > 0.3 {
        pgrx::warning!(
            "train_clv: frequency and mean amount correlate ({correlation:.2}) among repeat customers; Gamma–Gamma assumes they do not, so expected spend leans toward the population mean"
        );
    }
    let repeat_customers = customers.iter().filter(|c| c.frequency > 0.0).count();
    let p = chosen.params;
    let s = spend_fit.params;
    let metrics = json!({
        "model": algorithm,
        "params": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b},
        "log_likelihood": chosen.log_likelihood,
        "converged": chosen.converged,
        "gradient_norm": chosen.gradient_norm,
        "iterations": chosen.iterations,
        "candidates": fits.iter().map(|f| json!({"model": f.params.model.name(), "log_likelihood": f.log_likelihood,
            "params": {"r": f.params.r, "alpha": f.params.alpha, "a": f.params.a, "b": f.params.b}, "converged": f.converged})).collect::<Vec<_>>(),
        "spend": {"model": "gamma_gamma", "params": {"p": s.p, "q": s.q, "v": s.v}, "log_likelihood": spend_fit.log_likelihood,
            "converged": spend_fit.converged, "amounts_alike": spend_fit.alike, "customers": spend_fit.customers, "population_mean_amount": s.population_mean()},
        "frequency_monetary_correlation": correlation,
        "dropout_alike": alike_dropout,
        "rate_alike": rate_alike,
        "customers": customers.len(),
        "repeat_customers": repeat_customers,
        "mean_frequency": customers.iter().map(|c| c.frequency).sum::<f64>() / customers.len() as f64,
        "time_unit": opts.time_unit,
        "training_seconds": started.elapsed().as_secs_f64(),
    });
    let as_of_text = read_one::<String>(&format!("SELECT {as_of}::pg_catalog.timestamptz::pg_catalog.text"), &[])?.unwrap_or_default();
    let hyper = json!({"model": opts.model.map(|m| m.name()).unwrap_or("auto"), "penalizer": opts.penalizer, "time_unit": opts.time_unit,
        "as_of": as_of_text, "columns": {"customer": columns.customer, "order_at": columns.order_at, "amount": columns.amount}});
    let features = json!([{"name": "repeat_frequency"}, {"name": "recency"}, {"name": "t"}, {"name": "monetary_mean"}]);
    let bytes = registry::encode(Kind::Clv, &model)?;
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Clv,
        algorithm,
        target: None,
        positive_class: None,
        features,
        hyperparameters: hyper,
        metrics: metrics.clone(),
        training_rows: customers.len() as i64,
        holdout_rows: None,
        bytes,
    })?;
    registry::sql::deploy_version(name, version, "train_clv: newest version")?;
    Ok((id, name.to_string(), version, algorithm.to_string(), true, JsonB(metrics)))
}

// ---------------------------------------------------------------------------------------
// Scoring

/// A call site's memo: the deployed model of one name, and where the fields of `crm.rfm`
/// sit (found by name once; the composite's type is checked on every row).
struct ClvMemo {
    name: String,
    model: Rc<Deployed<ClvModel>>,
    rfm: Option<RfmLayout>,
    residuals: ResidualMemo,
}

struct RfmLayout {
    type_id: pg_sys::Oid,
    /// A copy of the row type's descriptor, in the call site's memory context.
    descriptor: pg_sys::TupleDesc,
    /// repeat_frequency (int8), recency_days, t_days, monetary_mean (float8)
    attributes: [i32; 4],
}

/// The memo of this call site for model `name` (resolved once per statement).
///
/// # Safety
/// `fcinfo` is the live call info of one of this file's functions.
unsafe fn memo_for<'a>(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> Result<&'a mut ClvMemo> {
    // SAFETY: forwarded; these functions' fn_extra holds only this memo.
    unsafe {
        memo::call_site(
            fcinfo,
            |m: &ClvMemo| m.name == name,
            || Ok(ClvMemo { name: name.to_string(), model: deployed::<ClvModel>(name)?, rfm: None, residuals: ResidualMemo::default() }),
        )
    }
}

/// The fields of a `crm.rfm` datum that CLV reads, as a day summary.
///
/// # Safety
/// `datum` is a composite datum valid for this call; `fcinfo` the live call.
unsafe fn read_rfm(fcinfo: pg_sys::FunctionCallInfo, memo: &mut ClvMemo, datum: pg_sys::Datum) -> Result<DaySummary> {
    // SAFETY: a composite datum (the SQL signature says crm.rfm), detoasted here.
    unsafe {
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let type_id = pgrx::heap_tuple_header_get_type_id(header);
        let type_mod = pgrx::heap_tuple_header_get_typmod(header);
        let layout = match &memo.rfm {
            Some(layout) if layout.type_id == type_id => layout,
            _ => {
                memo.rfm = None;
                let old = pg_sys::MemoryContextSwitchTo((*(*fcinfo).flinfo).fn_mcxt);
                let descriptor = pg_sys::lookup_rowtype_tupdesc_copy(type_id, type_mod);
                pg_sys::MemoryContextSwitchTo(old);
                let attrs = (*descriptor).attrs.as_slice((*descriptor).natts as usize);
                let find = |field: &str, want: pg_sys::Oid| -> Result<i32> {
                    attrs
                        .iter()
                        .position(|a| !a.attisdropped && std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_bytes() == field.as_bytes() && a.atttypid == want)
                        .map(|i| i as i32 + 1)
                        .ok_or_else(|| {
                            CrmError::DatatypeMismatch(format!("summary must be a crm.rfm value (from crm.rfm_agg); its field \"{field}\" is missing"))
                        })
                };
                let attributes = [
                    find("repeat_frequency", pg_sys::INT8OID)?,
                    find("recency_days", pg_sys::FLOAT8OID)?,
                    find("t_days", pg_sys::FLOAT8OID)?,
                    find("monetary_mean", pg_sys::FLOAT8OID)?,
                ];
                memo.rfm.insert(RfmLayout { type_id, descriptor, attributes })
            }
        };
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::heap_tuple_header_get_datum_length(header) as u32,
            t_self: pg_sys::ItemPointerData::default(),
            t_tableOid: pg_sys::InvalidOid,
            t_data: header,
        };
        let mut get = |k: usize| -> Option<pg_sys::Datum> {
            let mut is_null = false;
            let d = pg_sys::heap_getattr(&mut tuple, layout.attributes[k], layout.descriptor, &mut is_null);
            (!is_null).then_some(d)
        };
        let (Some(x), Some(recency_days), Some(t_days), Some(monetary)) = (get(0), get(1), get(2), get(3)) else {
            return Err(CrmError::bad_argument("summary", "a crm.rfm with NULL fields", "a summary from crm.rfm_agg"));
        };
        let t_days = f64::from_bits(t_days.value() as u64);
        let recency_days = f64::from_bits(recency_days.value() as u64);
        Ok(DaySummary {
            frequency: x.value() as i64 as f64,
            // crm.rfm's recency is days since the last purchase; CLV's is first to last
            recency_days: (t_days - recency_days).max(0.0),
            age_days: t_days,
            monetary: f64::from_bits(monetary.value() as u64),
        })
    }
}

/// Argument `i` of a STRICT V1 call (never NULL there).
unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, i: usize) -> pg_sys::Datum {
    // SAFETY: a live fcinfo with more than i arguments.
    unsafe { (*fcinfo).args.as_slice(i + 1)[i].value }
}

/// The V1 body shared by the `crm.rfm` forms: name and summary are arguments 0 and 1,
/// `score` computes from the model, the summary and the call's other arguments.
unsafe fn score_rfm(fcinfo: pg_sys::FunctionCallInfo, score: impl FnOnce(&ClvModel, &DaySummary, &mut ResidualMemo) -> Result<f64>) -> pg_sys::Datum {
    let run = || -> Result<f64> {
        // SAFETY: STRICT: argument 0 is a non-NULL text, 1 a non-NULL crm.rfm.
        unsafe {
            let name = <&str>::from_datum(arg(fcinfo, 0), false).unwrap_or_default();
            let memo = memo_for(fcinfo, name)?;
            let summary = read_rfm(fcinfo, memo, arg(fcinfo, 1))?;
            let model = memo.model.clone();
            score(&model.model, &summary, &mut memo.residuals).map_err(|e| e.map_message(|m| format!("{m} ({})", model.who())))
        }
    };
    pg_sys::Datum::from(run().or_raise().to_bits())
}

/// A float8 argument of a STRICT V1 call.
unsafe fn float_arg(fcinfo: pg_sys::FunctionCallInfo, i: usize) -> f64 {
    // SAFETY: forwarded.
    f64::from_bits(unsafe { arg(fcinfo, i) }.value() as u64)
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_p_alive_rfm() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// `crm.p_alive(name, summary crm.rfm)`.
///
/// # Safety
/// Called by Postgres only, through the SQL declaration below.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_p_alive_rfm(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres's live call of the STRICT function declared below.
    unsafe { score_rfm(fcinfo, |model, summary, _| model.p_alive(summary)) }
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_expected_purchases_rfm() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// `crm.expected_purchases(name, summary crm.rfm, horizon_days)`.
///
/// # Safety
/// Called by Postgres only, through the SQL declaration below.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_expected_purchases_rfm(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres's live call of the STRICT function declared below: argument 2 is
    // the float8 horizon.
    unsafe {
        let horizon_days = float_arg(fcinfo, 2);
        score_rfm(fcinfo, |model, summary, memo| model.expected_purchases(summary, horizon_days, memo))
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_expected_spend_rfm() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// `crm.expected_spend(name, summary crm.rfm)`.
///
/// # Safety
/// Called by Postgres only, through the SQL declaration below.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_expected_spend_rfm(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres's live call of the STRICT function declared below.
    unsafe { score_rfm(fcinfo, |model, summary, _| model.expected_spend(summary.frequency, summary.monetary)) }
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_clv_rfm() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// `crm.clv(name, summary crm.rfm, horizon_days, annual_discount)`.
///
/// # Safety
/// Called by Postgres only, through the SQL declaration below.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_clv_rfm(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: Postgres's live call of the STRICT function declared below: arguments 2 and
    // 3 are the float8 horizon and discount.
    unsafe {
        let (horizon_days, annual_discount) = (float_arg(fcinfo, 2), float_arg(fcinfo, 3));
        score_rfm(fcinfo, |model, summary, memo| model.clv(summary, horizon_days, annual_discount, memo))
    }
}

extension_sql!(
    r#"
CREATE FUNCTION p_alive(name text, summary rfm) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_p_alive_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION p_alive(text, rfm) IS 'Probability that the customer of a crm.rfm summary still buys (CLV model name)';
CREATE FUNCTION expected_purchases(name text, summary rfm, horizon_days float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_expected_purchases_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION expected_purchases(text, rfm, float8) IS 'Expected purchase days of the customer in the next horizon_days (CLV model name)';
CREATE FUNCTION expected_spend(name text, summary rfm) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_expected_spend_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION expected_spend(text, rfm) IS 'Expected amount per future purchase day (Gamma-Gamma; CLV model name)';
CREATE FUNCTION clv(name text, summary rfm, horizon_days float8 DEFAULT 365, annual_discount float8 DEFAULT 0) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_clv_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION clv(text, rfm, float8, float8) IS 'Expected spend of the customer over horizon_days, discounted per 30-day period at annual_discount (CLV model name)';
"#,
    name = "clv_summary_functions",
    requires = ["rfm_aggregate"]
);

/// `score` on the model of this call site and a plain-number summary; errors name the model.
fn plain(
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
    summary: DaySummary,
    score: impl FnOnce(&ClvModel, &DaySummary, &mut ResidualMemo) -> Result<f64>,
) -> f64 {
    let run = || {
        // SAFETY: the live call info of one of the plain-number functions below.
        let memo = unsafe { memo_for(fcinfo, name) }?;
        score(&memo.model.model, &summary, &mut memo.residuals).map_err(|e| e.map_message(|m| format!("{m} ({})", memo.model.who())))
    };
    run().or_raise()
}

fn numbers(frequency: f64, recency: f64, t: f64, monetary: f64) -> DaySummary {
    DaySummary { frequency, recency_days: recency, age_days: t, monetary }
}

/// P(alive) from plain numbers: `frequency` repeat purchase days, `recency` days from the
/// first purchase to the last, `t` days from the first purchase to now.
#[pg_extern(stable, strict, parallel_safe, name = "p_alive")]
fn p_alive_numbers(name: &str, frequency: f64, recency: f64, t: f64, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    plain(fcinfo, name, numbers(frequency, recency, t, 0.0), |model, s, _| model.p_alive(s))
}

/// Expected purchase days in the next `horizon_days`, from plain numbers (see `p_alive`).
#[pg_extern(stable, strict, parallel_safe, name = "expected_purchases")]
fn expected_purchases_numbers(name: &str, frequency: f64, recency: f64, t: f64, horizon_days: f64, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    plain(fcinfo, name, numbers(frequency, recency, t, 0.0), |model, s, memo| model.expected_purchases(s, horizon_days, memo))
}

/// Expected amount per future purchase day of a customer with `frequency` repeat purchase
/// days of mean amount `monetary`.
#[pg_extern(stable, strict, parallel_safe, name = "expected_spend")]
fn expected_spend_numbers(name: &str, frequency: f64, monetary: f64, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    plain(fcinfo, name, numbers(frequency, 0.0, 0.0, monetary), |model, s, _| model.expected_spend(s.frequency, s.monetary))
}

/// CLV from plain numbers (see `p_alive`; `monetary` is the mean amount per purchase day).
#[pg_extern(stable, strict, parallel_safe, name = "clv")]
#[allow(clippy::too_many_arguments)] // the SQL signature: a summary's four numbers and the horizon
fn clv_numbers(
    name: &str,
    frequency: f64,
    recency: f64,
    t: f64,
    monetary: f64,
    horizon_days: default!(f64, 365),
    annual_discount: default!(f64, 0),
    fcinfo: pg_sys::FunctionCallInfo,
) -> f64 {
    plain(fcinfo, name, numbers(frequency, recency, t, monetary), |model, s, memo| model.clv(s, horizon_days, annual_discount, memo))
}

extension_sql!(
    r#"
CREATE FUNCTION value_at_risk(churn_model text, clv_model text, customer_row anyelement, summary rfm,
                              horizon_days float8 DEFAULT 365, annual_discount float8 DEFAULT 0) RETURNS float8
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT crm.score(churn_model, customer_row) OPERATOR(pg_catalog.*) crm.clv(clv_model, summary, horizon_days, annual_discount) $$;
COMMENT ON FUNCTION value_at_risk(text, text, anyelement, rfm, float8, float8) IS
    'P(churn) from the churn classifier times CLV: the value a customer''s churn would lose (who to call first)';
"#,
    name = "clv_value_at_risk",
    requires = ["clv_summary_functions", "rfm_aggregate", "score_functions"]
);

// ---------------------------------------------------------------------------------------
// Customer profile

struct ProfileOptions {
    orders: OrderOptions,
    clv_model: Option<String>,
    churn_model: Option<String>,
    segments_model: Option<String>,
    recommender: Option<String>,
    customers: Option<String>,
    customer_key: Option<String>,
    horizon_days: f64,
    annual_discount: f64,
    top_products: u64,
}

fn parse_profile_options(options: &serde_json::Value) -> Result<ProfileOptions> {
    let empty = serde_json::Map::new();
    let map = object(options, &empty, "{\"clv_model\": \"clv\", \"churn_model\": \"churn\", \"customers\": \"customers\"}")?;
    let mut o = ProfileOptions {
        orders: OrderOptions::default(),
        clv_model: None,
        churn_model: None,
        segments_model: None,
        recommender: None,
        customers: None,
        customer_key: None,
        horizon_days: 365.0,
        annual_discount: 0.0,
        top_products: 3,
    };
    for (key, v) in map {
        if o.orders.read(key, v)? {
            continue;
        }
        match key.as_str() {
            "clv_model" => o.clv_model = Some(text(key, v)?),
            "churn_model" => o.churn_model = Some(text(key, v)?),
            "segments_model" => o.segments_model = Some(text(key, v)?),
            "recommender" => o.recommender = Some(text(key, v)?),
            "customers" => o.customers = Some(text(key, v)?),
            "customer_key" => o.customer_key = Some(text(key, v)?),
            "horizon_days" => o.horizon_days = number(key, v, 0.0, 1e7, "a number of days from 0 to 10,000,000")?,
            "annual_discount" => o.annual_discount = number(key, v, 0.0, 100.0, "a yearly rate from 0 to 100 (0.1 = 10%)")?,
            "top_products" => o.top_products = crate::options::integer(key, v, 1, 100)?,
            _ => {
                return Err(unknown(
                    key,
                    "customer_profile",
                    "customer, order_at, amount, as_of, clv_model, churn_model, segments_model, recommender, customers, customer_key, horizon_days, annual_discount, top_products",
                ))
            }
        }
    }
    if o.churn_model.is_some() && o.customers.is_none() {
        return Err(CrmError::InvalidArgument(
            "customer_profile: options.churn_model needs options.customers, the table (or view, or SELECT) of one row per customer the churn model scores"
                .into(),
        ));
    }
    Ok(o)
}

/// A quoted SQL literal of `value` (by Postgres's quote_literal).
fn literal(value: &str) -> Result<String> {
    read_one::<String>("SELECT pg_catalog.quote_literal($1)", &[value.into()])?.ok_or_else(|| CrmError::InvalidArgument("cannot quote a literal".into()))
}

type ProfileRow = (
    String,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    Option<String>,
    Option<i32>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<Vec<String>>,
);

/// The profile query: one row per customer with an order on or before as_of.
fn profile_query(orders_source: &str, o: &ProfileOptions) -> Result<String> {
    let (orders, columns, as_of) = orders_query(orders_source, &o.orders)?;
    let (h, d) = (o.horizon_days, o.annual_discount);
    let mut join = String::new();
    let mut has_customer_row = String::from("false");
    if let Some(customers) = &o.customers {
        let query = source_query(customers)?;
        let described = describe(&query)?;
        let key = o.customer_key.clone().unwrap_or_else(|| columns.customer.clone());
        let key = find_column(&described, &key, "options.customer_key (the customers' key)")?.name.clone();
        join = format!("LEFT JOIN ({query}) AS c ON c.{k}::pg_catalog.text OPERATOR(pg_catalog.=) s.customer", k = quote_ident(&key));
        has_customer_row = format!("c.{} IS NOT NULL", quote_ident(&key));
    }
    let model = |name: &Option<String>| name.as_deref().map(literal).transpose();
    let churn = match model(&o.churn_model)? {
        Some(m) => format!("CASE WHEN {has_customer_row} THEN crm.score({m}, c) END"),
        None => "NULL::pg_catalog.float8".into(),
    };
    let segment = match model(&o.segments_model)? {
        Some(m) if o.customers.is_some() => format!("CASE WHEN {has_customer_row} THEN crm.segment({m}, c) END"),
        Some(m) => format!("crm.segment({m}, s.rfm)"),
        None => "NULL::pg_catalog.int4".into(),
    };
    let (p_alive, expected, clv) = match model(&o.clv_model)? {
        Some(m) => (
            format!("crm.p_alive({m}, s.rfm)"),
            format!("crm.expected_purchases({m}, s.rfm, {h:?}::pg_catalog.float8)"),
            format!("crm.clv({m}, s.rfm, {h:?}::pg_catalog.float8, {d:?}::pg_catalog.float8)"),
        ),
        None => ("NULL::pg_catalog.float8".into(), "NULL::pg_catalog.float8".into(), "NULL::pg_catalog.float8".into()),
    };
    let top = match model(&o.recommender)? {
        Some(m) => format!("ARRAY(SELECT r.item FROM crm.recommend({m}, s.customer, {k}) AS r ORDER BY r.rank)", k = o.top_products),
        None => "NULL::pg_catalog.text[]".into(),
    };
    Ok(format!(
        "WITH s AS (SELECT customer, crm.rfm_agg(order_at, amount, {as_of}::pg_catalog.timestamptz) AS rfm FROM ({orders}) AS o \
                    WHERE customer IS NOT NULL GROUP BY customer),
              known AS (SELECT * FROM s WHERE rfm IS NOT NULL),
              q AS (SELECT crm.rfm_quintiles(rfm) AS quintiles FROM known),
              scored AS (SELECT s.customer, (s.rfm).recency_days, (s.rfm).frequency, (s.rfm).monetary_total,
                    (crm.rfm_score(s.rfm, q.quintiles)).segment AS rfm_segment, {segment} AS segment, {churn} AS churn_score,
                    {p_alive} AS p_alive, {expected} AS expected_purchases, {clv} AS clv, {top} AS top_products
                 FROM known AS s CROSS JOIN q {join})
         SELECT customer, recency_days, frequency, monetary_total, rfm_segment, segment, churn_score, p_alive, expected_purchases, clv,
                churn_score OPERATOR(pg_catalog.*) clv AS value_at_risk, top_products
         FROM scored ORDER BY value_at_risk DESC NULLS LAST, clv DESC NULLS LAST, customer"
    ))
}

/// The customer 360 a CRM analyst opens first: per customer with an order on or before
/// as_of, RFM summary and named RFM segment, k-means segment, churn score, P(alive),
/// expected purchases, CLV, value at risk (churn score × CLV) and the top recommended
/// products, as plain columns; highest value at risk first. Each model is optional (its
/// columns are NULL without it). `CREATE VIEW customer_360 AS SELECT * FROM
/// crm.customer_profile(...)` gives BI tools a table that is always current.
#[pg_extern(stable, parallel_unsafe)]
#[allow(clippy::type_complexity)] // the SQL result's twelve named columns
fn customer_profile(
    orders: Option<&str>,
    options: default!(Option<JsonOptions>, "'{}'"),
) -> TableIterator<
    'static,
    (
        name!(customer, String),
        name!(recency_days, Option<f64>),
        name!(frequency, Option<i64>),
        name!(monetary_total, Option<f64>),
        name!(rfm_segment, Option<String>),
        name!(segment, Option<i32>),
        name!(churn_score, Option<f64>),
        name!(p_alive, Option<f64>),
        name!(expected_purchases, Option<f64>),
        name!(clv, Option<f64>),
        name!(value_at_risk, Option<f64>),
        name!(top_products, Option<Vec<String>>),
    ),
> {
    let run = || -> Result<Vec<ProfileRow>> {
        let options = JsonOptions::or_null(&options)?;
        let o = parse_profile_options(&options)?;
        let sql = profile_query(required(orders, "orders")?, &o)?;
        let mut rows = Vec::new();
        read_in_batches(&sql, |row| {
            let Some(customer) = row.get::<String>(1)? else {
                return Ok(true);
            };
            rows.push((
                customer,
                row.get::<f64>(2)?,
                row.get::<i64>(3)?,
                row.get::<f64>(4)?,
                row.get::<String>(5)?,
                row.get::<i32>(6)?,
                row.get::<f64>(7)?,
                row.get::<f64>(8)?,
                row.get::<f64>(9)?,
                row.get::<f64>(10)?,
                row.get::<f64>(11)?,
                row.get::<Vec<String>>(12)?,
            ));
            Ok(true)
        })?;
        Ok(rows)
    };
    TableIterator::new(run().or_raise())
}
