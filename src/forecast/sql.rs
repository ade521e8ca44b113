//! SQL surface of forecasting: `crm.train_forecast`, `crm.forecast` (a SQL function over
//! `crm.forecast_points`, which turns period numbers into dates), `crm.evaluate_forecast`
//! and `crm.forecast_components`. Periods are numbered from the first period of the
//! training data (its `origin`) in the session's time zone; the algorithms are in this
//! module's siblings.

use std::collections::HashMap;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{fill_gaps, fit_panel, metrics, FittedSeries, ForecastOptions, Frequency, GlobalMode, Panel, PanelSeries, Selection};
use crate::error::sql::OrRaise;
use crate::error::{required, CrmError, Result};
use crate::options::{names, text};
use crate::pg::json_options::JsonOptions;
use crate::pg::model_cache::{deployed, version as model_version};
use crate::pg::source::{
    cancel_requested, check_new_model, describe, find_column, is_numeric, is_time, pick_column, quote_ident, raise_pending_cancel, read_in_batches, read_one,
    source_query, store_model, ColumnInfo, NewModel, TrainRow,
};
use crate::registry::{self, appended, Kind, StoredModel};

/// A trained forecast: the options, the columns read, the first period and one fit per
/// series.
#[derive(Serialize, Deserialize)]
pub struct ForecastModel {
    pub options: ForecastOptions,
    pub time: String,
    pub value: String,
    pub series_columns: Vec<String>,
    /// The first period's date ('YYYY-MM-DD'): period k starts k periods after it.
    pub origin: String,
    pub series: Vec<SeriesFit>,
    /// The columns of options.covariates (the forecasts used their future values, read
    /// at training). Appended in 0.7.0: models stored before read as none.
    #[serde(default, deserialize_with = "appended")]
    pub covariates: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub struct SeriesFit {
    /// The series' id columns as text joined by '|' ('' for a single series).
    pub key: String,
    /// Its first and last period with data.
    pub first: i64,
    pub last: i64,
    /// In-sample MAE of the seasonal naive forecast (MASE's scale), when defined.
    pub naive_scale: Option<f64>,
    pub fit: FittedSeries,
}

impl StoredModel for ForecastModel {
    const KIND: Kind = Kind::Forecast;

    fn validate(&self) -> std::result::Result<(), String> {
        self.options.validate().map_err(|e| e.message().to_string())?;
        if !self.origin.bytes().all(|b| b.is_ascii_digit() || b == b'-') || self.origin.len() != 10 {
            return Err(format!("origin \"{}\" is not a date", self.origin));
        }
        for s in &self.series {
            if s.first > s.last {
                return Err(format!("series \"{}\" ends before it starts", s.key));
            }
            s.fit.check().map_err(|why| format!("series \"{}\": {why}", s.key))?;
        }
        Ok(())
    }
}

/// Column names tried, in order, when options do not name the column.
const TIME_NAMES: &[&str] = &["time", "date", "period", "period_start", "week", "month", "day", "ds", "order_date", "ordered_at", "created_at", "ts"];
const VALUE_NAMES: &[&str] = &["value", "sales", "weekly_sales", "amount", "quantity", "qty", "units", "revenue", "demand", "y"];

fn unit(frequency: Frequency) -> &'static str {
    frequency.name()
}

/// The period number of date expression `d` from date literal `origin` for `frequency`.
fn period_expr(frequency: Frequency, d: &str, origin: &str) -> String {
    let months = |x: &str| format!("(pg_catalog.date_part('year', {x})::pg_catalog.int8 * 12 + pg_catalog.date_part('month', {x})::pg_catalog.int8)");
    match frequency {
        Frequency::Day => format!("({d} - {origin}::pg_catalog.date)::pg_catalog.int8"),
        Frequency::Week => format!("pg_catalog.floor(({d} - {origin}::pg_catalog.date) / 7.0)::pg_catalog.int8"),
        Frequency::Month => format!("({} - {})", months(d), months(&format!("{origin}::pg_catalog.date"))),
        Frequency::Quarter => format!("pg_catalog.floor(({} - {}) / 3.0)::pg_catalog.int8", months(d), months(&format!("{origin}::pg_catalog.date"))),
    }
}

/// The columns of a sales source: named in options, else by conventional name, else the
/// only column of the right type; series ids: named, else the remaining text columns.
/// Integer columns are never taken as ids unasked: they may as well be numbers (a week
/// number would make every row a series of its own); a WARNING names them.
struct SourceColumns {
    time: String,
    value: String,
    series: Vec<String>,
}

fn source_columns(
    described: &[ColumnInfo],
    time: Option<&str>,
    value: Option<&str>,
    series: Option<Vec<String>>,
    covariates: &[String],
) -> Result<SourceColumns> {
    let pick =
        |given: Option<&str>, conventional: &[&str], fits: &dyn Fn(&ColumnInfo) -> bool, what: &str| pick_column(described, given, conventional, fits, what);
    let time = pick(time, TIME_NAMES, &|c| is_time(c.type_oid), "time")?;
    let time_type = described.iter().find(|c| c.name == time).map(|c| c.type_oid).unwrap_or(pg_sys::InvalidOid);
    if !is_time(time_type) {
        return Err(CrmError::DatatypeMismatch(format!("time column \"{time}\" must be a date, timestamp or timestamptz")));
    }
    let value = pick(value, VALUE_NAMES, &|c| is_numeric(c.type_oid) && c.name != time, "value")?;
    let value_type = described.iter().find(|c| c.name == value).map(|c| c.type_oid).unwrap_or(pg_sys::InvalidOid);
    if !is_numeric(value_type) {
        return Err(CrmError::DatatypeMismatch(format!(
            "value column \"{value}\" must be numeric (smallint, integer, bigint, real, double precision, numeric)"
        )));
    }
    let named_series = series.is_some();
    let series = match series {
        Some(given) => given.iter().map(|n| Ok(find_column(described, n, "options.series")?.name.clone())).collect::<Result<Vec<_>>>()?,
        None => described
            .iter()
            .filter(|c| c.name != time && c.name != value)
            .filter(|c| matches!(c.type_oid, pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID))
            .map(|c| c.name.clone())
            .collect(),
    };
    if !named_series {
        let integers: Vec<&str> = described
            .iter()
            .filter(|c| c.name != time && c.name != value && !covariates.contains(&c.name))
            .filter(|c| matches!(c.type_oid, pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID))
            .map(|c| c.name.as_str())
            .collect();
        if !integers.is_empty() {
            pgrx::warning!(
                "train_forecast: integer column(s) {} are not series ids unless options.series names them (series ids taken: {})",
                integers.join(", "),
                if series.is_empty() { "none, one series".to_string() } else { series.join(", ") }
            );
        }
    }
    if series.iter().any(|s| *s == time || *s == value) {
        return Err(CrmError::InvalidArgument("options.series must not name the time or the value column".into()));
    }
    Ok(SourceColumns { time, value, series })
}

/// A column of options.covariates: its name and whether it is a boolean (read as 1 or 0).
struct Covariate {
    name: String,
    boolean: bool,
}

/// The columns options.covariates names: each in the source, numeric or boolean, named
/// once, and none of the time, value or series columns.
fn covariate_columns(described: &[ColumnInfo], names: &[String], columns: &SourceColumns) -> Result<Vec<Covariate>> {
    let mut out: Vec<Covariate> = Vec::with_capacity(names.len());
    for name in names {
        let column = find_column(described, name, "options.covariates")?;
        let boolean = column.type_oid == pg_sys::BOOLOID;
        if !boolean && !is_numeric(column.type_oid) {
            return Err(CrmError::DatatypeMismatch(format!(
                "options.covariates column \"{name}\" must be numeric (smallint, integer, bigint, real, double precision, numeric) or boolean"
            )));
        }
        if *name == columns.time || *name == columns.value || columns.series.contains(name) {
            return Err(CrmError::InvalidArgument(format!(
                "options.covariates must not name the time, value or series columns (\"{name}\" is one): a covariate is a number known for each period"
            )));
        }
        if out.iter().any(|c| c.name == *name) {
            return Err(CrmError::InvalidArgument(format!("options.covariates names \"{name}\" twice")));
        }
        out.push(Covariate { name: column.name.clone(), boolean });
    }
    Ok(out)
}

/// `(series key, date, value, covariate c0, c1, …)` rows of the source, as a query.
fn rows_query(query: &str, columns: &SourceColumns, covariates: &[Covariate]) -> String {
    let key = if columns.series.is_empty() {
        "''::pg_catalog.text".to_string()
    } else {
        let parts: Vec<String> = columns.series.iter().map(|c| format!("COALESCE({}::pg_catalog.text, '')", quote_ident(c))).collect();
        format!("pg_catalog.concat_ws('|', {})", parts.join(", "))
    };
    // A boolean has no cast to float8: through int4, true is 1 and false 0 (NULL stays NULL).
    let extra: String = covariates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cast = if c.boolean { "::pg_catalog.int4::pg_catalog.float8" } else { "::pg_catalog.float8" };
            format!(", {}{cast} AS c{i}", quote_ident(&c.name))
        })
        .collect();
    format!(
        "SELECT {key} AS series, {}::pg_catalog.date AS d, {}::pg_catalog.float8 AS v{extra} FROM ({query}) AS crm_sales WHERE {} IS NOT NULL",
        quote_ident(&columns.time),
        quote_ident(&columns.value),
        quote_ident(&columns.time)
    )
}

/// The frequency of the rows: the median gap between consecutive dates of a series.
fn detect_frequency(rows: &str) -> Result<Frequency> {
    let gap = read_one::<f64>(
        &format!(
            "SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) FROM (
               SELECT d - pg_catalog.lag(d) OVER (PARTITION BY series ORDER BY d) AS gap FROM (SELECT DISTINCT series, d FROM ({rows}) AS r) AS u) AS g
             WHERE gap > 0"
        ),
        &[],
    )?
    .ok_or_else(|| CrmError::InvalidArgument("cannot tell the frequency: no series has two dates; set options.frequency".into()))?;
    Ok(match gap {
        g if g <= 1.5 => Frequency::Day,
        g if (5.0..=9.0).contains(&g) => Frequency::Week,
        g if (27.0..=32.0).contains(&g) => Frequency::Month,
        g if (85.0..=95.0).contains(&g) => Frequency::Quarter,
        g => {
            return Err(CrmError::InvalidArgument(format!(
                "cannot tell the frequency from the median gap of {g} days between dates: set options.frequency ({})",
                Frequency::ACCEPTED
            )))
        }
    })
}

/// The first period's date for `frequency` (a month or quarter starts on its first day).
fn origin_of(rows: &str, frequency: Frequency) -> Result<String> {
    let first = match frequency {
        Frequency::Day | Frequency::Week => "pg_catalog.min(d)".to_string(),
        Frequency::Month => "pg_catalog.date_trunc('month', pg_catalog.min(d))::pg_catalog.date".to_string(),
        Frequency::Quarter => "pg_catalog.date_trunc('quarter', pg_catalog.min(d))::pg_catalog.date".to_string(),
    };
    read_one::<String>(&format!("SELECT pg_catalog.to_char({first}, 'YYYY-MM-DD') FROM ({rows}) AS r"), &[])?
        .ok_or_else(|| CrmError::InvalidArgument("the source has no row with a time".into()))
}

/// Values per series and period: (key, first period, values with None where a period has
/// no row). Several rows in one period are added up.
/// One series' values by period from its first: (key, first period, values).
type Periods = (String, i64, Vec<Option<f64>>);

fn read_periods(rows: &str, frequency: Frequency, origin: &str, from_period: Option<&HashMap<&str, i64>>) -> Result<Vec<Periods>> {
    let origin_literal = format!("'{origin}'");
    let period = period_expr(frequency, "d", &origin_literal);
    let query = format!("SELECT series, {period} AS k, pg_catalog.sum(v) AS v FROM ({rows}) AS r GROUP BY 1, 2 ORDER BY 1, 2");
    let mut out: Vec<Periods> = Vec::new();
    read_in_batches(&query, |row| {
        let key: String = row.get(1)?.unwrap_or_default();
        let Some(k) = row.get::<i64>(2)? else { return Ok(true) };
        let v: Option<f64> = row.get(3)?;
        if from_period.is_some_and(|after| after.get(key.as_str()).is_none_or(|last| k <= *last)) {
            return Ok(true);
        }
        match out.last_mut() {
            Some((last_key, first, values)) if *last_key == key => {
                let at = (k - *first) as usize;
                if values.len() <= at {
                    values.resize(at + 1, None);
                }
                values[at] = v;
            }
            _ => out.push((key, k, vec![v])),
        }
        Ok(true)
    })?;
    Ok(out)
}

/// One series as training reads it.
struct TrainingSeries {
    key: String,
    /// The period of its first known value.
    first: i64,
    /// Values from `first` to its last known value; None where a period has none.
    values: Vec<Option<f64>>,
    /// Per covariate, its values from `first` to `horizon` periods after the last known
    /// value (NaN: unknown).
    covariates: Vec<Vec<f64>>,
}

/// Rows of one period of one series: its value (the sum of the rows' values, None when
/// none is known) and covariates (the largest of the rows' values, None when none is).
type PeriodRow = (i64, Option<f64>, Vec<Option<f64>>);

/// The series of the source for training. A series' history runs from its first to its
/// last period with a known value; rows whose value is NULL after it give the covariates
/// of the periods to forecast (up to `horizon` of them; later ones are not read), and a
/// period with NULL values only is a gap inside the history. Series with no known value
/// have no history and are left out.
fn read_training(rows: &str, frequency: Frequency, origin: &str, covariates: usize, horizon: usize) -> Result<Vec<TrainingSeries>> {
    let origin_literal = format!("'{origin}'");
    let period = period_expr(frequency, "d", &origin_literal);
    let maxima: String = (0..covariates).map(|i| format!(", pg_catalog.max(c{i}) AS c{i}")).collect();
    let query = format!("SELECT series, {period} AS k, pg_catalog.sum(v) AS v{maxima} FROM ({rows}) AS r GROUP BY 1, 2 ORDER BY 1, 2");
    let mut out: Vec<TrainingSeries> = Vec::new();
    let mut current: Option<(String, Vec<PeriodRow>)> = None;
    let finish = |key: String, periods: Vec<PeriodRow>| -> Option<TrainingSeries> {
        let first = periods.iter().find(|p| p.1.is_some())?.0;
        let last = periods.iter().rev().find(|p| p.1.is_some())?.0;
        let length = usize::try_from(last - first + 1).ok()?;
        let mut values = vec![None; length];
        let mut covariate_values = vec![vec![f64::NAN; length + horizon]; covariates];
        for (k, v, c) in periods {
            let Ok(at) = usize::try_from(k - first) else { continue };
            if at < length {
                values[at] = v;
            }
            if at < length + horizon {
                for (column, value) in covariate_values.iter_mut().zip(c) {
                    column[at] = value.unwrap_or(f64::NAN);
                }
            }
        }
        Some(TrainingSeries { key, first, values, covariates: covariate_values })
    };
    read_in_batches(&query, |row| {
        let key: String = row.get(1)?.unwrap_or_default();
        let Some(k) = row.get::<i64>(2)? else { return Ok(true) };
        let v: Option<f64> = row.get(3)?;
        let c = (0..covariates).map(|i| row.get::<f64>(4 + i)).collect::<std::result::Result<Vec<_>, _>>()?;
        match current.as_mut() {
            Some((current_key, periods)) if *current_key == key => periods.push((k, v, c)),
            _ => {
                if let Some((done_key, periods)) = current.replace((key, vec![(k, v, c)])) {
                    out.extend(finish(done_key, periods));
                }
            }
        }
        Ok(true)
    })?;
    if let Some((key, periods)) = current {
        out.extend(finish(key, periods));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Training

/// Options read here, besides ForecastOptions' own.
const SOURCE_KEYS: &[&str] = &["time", "value", "series", "covariates"];

#[pg_extern(volatile, parallel_unsafe)]
fn train_forecast(
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

fn train(name: &str, source: &str, options: &Value) -> Result<TrainRow> {
    check_new_model(name)?;
    let started = std::time::Instant::now();
    let given = match options {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => return Err(CrmError::bad_argument("options", other, "a JSON object such as '{\"series\": [\"store\"], \"horizon\": 13}'")),
    };
    let mut model_options = Map::new();
    let (mut time, mut value, mut series, mut covariate_names) = (None, None, None, Vec::new());
    for (key, v) in &given {
        match key.as_str() {
            "time" => time = Some(text(key, v)?),
            "value" => value = Some(text(key, v)?),
            "series" => series = Some(names(key, v)?),
            "covariates" => covariate_names = names(key, v)?,
            _ => {
                model_options.insert(key.clone(), v.clone());
            }
        }
    }
    // Options are checked before the source is read (the frequency is filled in later).
    let check = |options: &Map<String, Value>| {
        ForecastOptions::from_json(&Value::Object(options.clone()))
            .map_err(|e| e.map_message(|m| if m.starts_with("unknown option") { format!("{m}, {}", SOURCE_KEYS.join(", ")) } else { m.to_string() }))
    };
    check(&model_options)?;
    let query = source_query(source)?;
    let described = describe(&query)?;
    let columns = source_columns(&described, time.as_deref(), value.as_deref(), series, &covariate_names)?;
    let covariates = covariate_columns(&described, &covariate_names, &columns)?;
    let rows = rows_query(&query, &columns, &covariates);
    if !model_options.contains_key("frequency") {
        model_options.insert("frequency".into(), json!(detect_frequency(&rows)?.name()));
    }
    let opts = check(&model_options)?;
    let origin = origin_of(&rows, opts.frequency)?;
    let read = read_training(&rows, opts.frequency, &origin, covariates.len(), opts.horizon())?;
    if read.is_empty() {
        return Err(CrmError::InvalidArgument("train_forecast: the source has no row with both a time and a value".into()));
    }
    let mut keys = Vec::with_capacity(read.len());
    let mut panel = Panel { covariates: covariates.iter().map(|c| c.name.clone()).collect(), series: Vec::with_capacity(read.len()) };
    for s in read {
        keys.push(s.key);
        panel.series.push(PanelSeries { first: s.first, values: fill_gaps(&s.values, opts.fill), covariates: s.covariates });
    }
    let fits = raise_pending_cancel(fit_panel(&panel, &opts, &cancel_requested)).map_err(|e| {
        e.map_message(|m| match m.strip_prefix("series ").and_then(|rest| rest.split_once(':')) {
            Some((i, why)) => {
                let key = i.parse::<usize>().ok().and_then(|i| keys.get(i.saturating_sub(1))).map(String::as_str).unwrap_or("");
                format!("train_forecast: series \"{key}\":{why}")
            }
            None => format!("train_forecast: {m}"),
        })
    })?;
    let season = opts.season_length();
    let mut chosen: HashMap<&'static str, usize> = HashMap::new();
    let mut series_fits = Vec::with_capacity(fits.len());
    for ((key, series), fit) in keys.into_iter().zip(&panel.series).zip(fits) {
        *chosen.entry(fit.model_name()).or_default() += 1;
        series_fits.push(SeriesFit {
            key,
            first: series.first,
            last: series.first + series.values.len() as i64 - 1,
            naive_scale: metrics::naive_scale(&series.values, season),
            fit,
        });
    }
    let periods: usize = panel.series.iter().map(|s| s.values.len()).sum();
    let model = ForecastModel {
        options: opts.clone(),
        time: columns.time.clone(),
        value: columns.value.clone(),
        series_columns: columns.series.clone(),
        origin: origin.clone(),
        series: series_fits,
        covariates: panel.covariates.clone(),
    };
    let mut chosen: Vec<(&str, usize)> = chosen.into_iter().collect();
    chosen.sort();
    let metrics = json!({
        "series": model.series.len(),
        "periods": periods,
        "frequency": opts.frequency.name(),
        "season_length": season,
        "horizon": opts.horizon(),
        "level": opts.level,
        "origin": origin,
        "models": chosen.iter().map(|(m, n)| (m.to_string(), json!(n))).collect::<Map<String, Value>>(),
        "train_seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    let algorithm = match chosen.as_slice() {
        [(only, _)] => only.to_string(),
        _ => "auto".to_string(),
    };
    let bytes = registry::encode(Kind::Forecast, &model)?;
    let (id, version) = store_model(NewModel {
        name,
        kind: Kind::Forecast,
        algorithm: &algorithm,
        target: Some(&columns.value),
        positive_class: None,
        features: features_json(&columns, &model.covariates),
        hyperparameters: hyperparameters_json(&opts),
        metrics: metrics.clone(),
        training_rows: periods as i64,
        holdout_rows: None,
        bytes,
    })?;
    registry::sql::deploy_version(name, version, "train_forecast: newest version")?;
    Ok((id, name.to_string(), version, algorithm, true, JsonB(metrics)))
}

/// The columns a model read, for the registry (covariates only when there are some).
fn features_json(columns: &SourceColumns, covariates: &[String]) -> Value {
    let mut features = json!({"time": columns.time, "value": columns.value, "series": columns.series});
    if let (false, Value::Object(map)) = (covariates.is_empty(), &mut features) {
        map.insert("covariates".into(), json!(covariates));
    }
    features
}

/// The options for the registry: serde's (which leaves `global` and `selection` out, see
/// `ForecastOptions::global`) and those two as the options read them.
fn hyperparameters_json(options: &ForecastOptions) -> Value {
    let mut value = serde_json::to_value(options).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "global".into(),
            match options.global {
                GlobalMode::Auto => json!("auto"),
                GlobalMode::On => json!(true),
                GlobalMode::Off => json!(false),
            },
        );
        map.insert(
            "selection".into(),
            json!(match options.selection {
                Selection::PerSeries => "per_series",
                Selection::Global => "global",
            }),
        );
    }
    value
}

// ---------------------------------------------------------------------------------------
// Forecasting

type PointRow = (String, i64, f64, f64, f64, String, String, String);

/// The deployed forecast's points as period numbers; `crm.forecast` turns them into dates.
#[allow(clippy::type_complexity)] // the SQL result's columns, as pgrx spells them
#[pg_extern(stable, parallel_safe)]
fn forecast_points(
    name: Option<&str>,
    horizon: Option<i32>,
    level: Option<f64>,
) -> TableIterator<
    'static,
    (
        name!(series, String),
        name!(period, i64),
        name!(forecast, f64),
        name!(lo, f64),
        name!(hi, f64),
        name!(model, String),
        name!(origin, String),
        name!(unit, String),
    ),
> {
    let run = || -> Result<Vec<PointRow>> {
        let name = required(name, "name")?;
        let deployed = deployed::<ForecastModel>(name)?;
        let model = &deployed.model;
        let level = level.unwrap_or(model.options.level);
        let horizon = match horizon {
            None => model.options.horizon(),
            Some(h) if h >= 1 => h as usize,
            Some(h) => return Err(CrmError::bad_argument("horizon", h, "a positive number of periods")),
        };
        let mut out = Vec::with_capacity(model.series.len() * horizon);
        for s in &model.series {
            let points = s.fit.forecast(horizon, level)?;
            for (step, p) in points.into_iter().enumerate() {
                out.push((
                    s.key.clone(),
                    s.last + 1 + step as i64,
                    p.mean,
                    p.lo,
                    p.hi,
                    s.fit.model_name().to_string(),
                    model.origin.clone(),
                    unit(model.options.frequency).to_string(),
                ));
            }
        }
        Ok(out)
    };
    TableIterator::new(run().or_raise())
}

extension_sql!(
    r#"
-- Forecasts of the deployed model: one row per series and future period, with the
-- prediction interval at `level` (calibrated on cross-validation errors).
CREATE FUNCTION forecast(name text, horizon int DEFAULT NULL, level float8 DEFAULT 0.8)
RETURNS TABLE (series text, period_start timestamptz, forecast float8, lo float8, hi float8, model text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT p.series,
       (CASE p.unit
          WHEN 'day' THEN p.origin::date + p.period::int
          WHEN 'week' THEN p.origin::date + 7 * p.period::int
          WHEN 'month' THEN (p.origin::date + make_interval(months => p.period::int))::date
          ELSE (p.origin::date + make_interval(months => 3 * p.period::int))::date
        END)::timestamptz,
       p.forecast, p.lo, p.hi, p.model
FROM crm.forecast_points(name, horizon, level) AS p
$fn$;
COMMENT ON FUNCTION forecast(text, int, float8) IS 'Forecasts of the deployed forecast model: series, period_start, forecast, lo, hi (interval at level), model';
"#,
    name = "forecast_sql",
    requires = [forecast_points]
);

/// The state each series' model ends its history in (statistical models): level, trend
/// per period, damping and the seasonal effects of the next season.
#[allow(clippy::type_complexity)] // the SQL result's columns, as pgrx spells them
#[pg_extern(stable, parallel_safe)]
fn forecast_components(
    name: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(series, String),
        name!(model, String),
        name!(level, Option<f64>),
        name!(trend, Option<f64>),
        name!(damping, Option<f64>),
        name!(season, Option<Vec<f64>>),
    ),
> {
    type ComponentRow = (String, String, Option<f64>, Option<f64>, Option<f64>, Option<Vec<f64>>);
    let run = || -> Result<Vec<ComponentRow>> {
        let deployed = deployed::<ForecastModel>(required(name, "name")?)?;
        Ok(deployed
            .model
            .series
            .iter()
            .map(|s| {
                let c = s.fit.components();
                (
                    s.key.clone(),
                    s.fit.model_name().to_string(),
                    c.map(|c| c.level),
                    c.map(|c| c.trend),
                    c.map(|c| c.damping),
                    c.filter(|c| !c.season.is_empty()).map(|c| c.season.clone()),
                )
            })
            .collect())
    };
    TableIterator::new(run().or_raise())
}

/// Metrics of a forecast model's forecasts against actuals in `source` (the same columns
/// as training; periods after each series' training data, within the horizon): sMAPE and
/// MASE (means over series), pooled RMSE and WAPE (%), and interval coverage at the
/// model's level.
#[pg_extern(volatile, parallel_unsafe)]
fn evaluate_forecast(name: Option<&str>, source: Option<&str>, version: default!(Option<i32>, "NULL")) -> JsonB {
    let run = || -> Result<Value> {
        let name = required(name, "name")?;
        let loaded = model_version::<ForecastModel>(name, version)?;
        let model = &loaded.model;
        let query = source_query(required(source, "source")?)?;
        let described = describe(&query)?;
        let columns = source_columns(&described, Some(&model.time), Some(&model.value), Some(model.series_columns.clone()), &model.covariates)?;
        let rows = rows_query(&query, &columns, &[]);
        let last: HashMap<&str, i64> = model.series.iter().map(|s| (s.key.as_str(), s.last)).collect();
        let actuals = read_periods(&rows, model.options.frequency, &model.origin, Some(&last))?;
        let by_key: HashMap<&str, &SeriesFit> = model.series.iter().map(|s| (s.key.as_str(), s)).collect();
        let horizon = model.options.horizon();
        let (mut all_actual, mut all_forecast, mut all_lo, mut all_hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut smapes, mut mases) = (Vec::new(), Vec::new());
        for (key, first, values) in &actuals {
            let Some(fit) = by_key.get(key.as_str()) else { continue };
            let points = fit.fit.forecast(horizon, model.options.level)?;
            let (mut a, mut f) = (Vec::new(), Vec::new());
            for (offset, v) in values.iter().enumerate() {
                let step = (first + offset as i64 - fit.last - 1) as usize;
                if let (Some(v), Some(p)) = (v, points.get(step)) {
                    a.push(*v);
                    f.push(p.mean);
                    all_lo.push(p.lo);
                    all_hi.push(p.hi);
                }
            }
            if a.is_empty() {
                continue;
            }
            smapes.extend(metrics::smape(&a, &f));
            if let (Some(mae), Some(scale)) = (metrics::mae(&a, &f), fit.naive_scale) {
                if scale > 0.0 {
                    mases.push(mae / scale);
                }
            }
            all_actual.extend(a);
            all_forecast.extend(f);
        }
        if all_actual.is_empty() {
            return Err(CrmError::InvalidArgument(format!(
                "evaluate_forecast: the source has no value for a period the model forecasts (after each series' training data, within {horizon} periods)"
            )));
        }
        let mean = |v: &[f64]| if v.is_empty() { Value::Null } else { json!(v.iter().sum::<f64>() / v.len() as f64) };
        Ok(json!({
            "series": smapes.len(),
            "points": all_actual.len(),
            "smape": mean(&smapes),
            "mase": mean(&mases),
            "rmse": metrics::rmse(&all_actual, &all_forecast),
            "wape": metrics::wape(&all_actual, &all_forecast),
            "coverage": metrics::coverage(&all_actual, &all_lo, &all_hi),
            "level": model.options.level,
        }))
    };
    JsonB(run().or_raise())
}
