//! Sales forecasting: per-series statistical models chosen by rolling-origin
//! cross-validation, with conformal prediction intervals.
//!
//! The caller hands in regular series (one value per period, gaps already filled, see
//! [`fill_gaps`]). For each series [`fit_series`]:
//!
//! 1. forecasts the last periods of the history from a few earlier origins with each
//!    candidate model (rolling-origin cross-validation);
//! 2. keeps the ensemble (the mean of the main models for the series' kind of season)
//!    unless a single candidate's mean absolute error over those windows is at least 20 %
//!    lower (see `select::ENSEMBLE_MARGIN`: a few windows pick the lowest error poorly);
//! 3. refits it on the whole history and forecasts the horizon;
//! 4. keeps the cross-validation errors of the chosen model as conformal scores: an
//!    interval at level L is the point forecast ± the L-quantile of the absolute errors,
//!    each scaled by the error size of its horizon step, times that step's size. Intervals
//!    are thus calibrated on real out-of-sample errors, widen with the horizon as the
//!    errors do, and hold for any level asked later.
//!
//! The models (one file each): `naive` (mean, naive, seasonal naive), `ets` (simple,
//! Holt, damped, Holt–Winters for seasons of up to 24 periods), `theta`, `croston` (SBA,
//! for intermittent demand), `seasonal` (seasonal average and an STL-like decomposition,
//! the models for long seasons such as 52 weeks with two or three years of history).
//!
//! Everything here is plain Rust: no Postgres, deterministic, serialisable with serde.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CrmError, Result};
use crate::options;
use crate::pool;

mod croston;
mod ets;
pub mod metrics;
mod naive;
mod optim;
mod seasonal;
mod select;
pub mod sql;
mod theta;

/// The spacing of the periods of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Day,
    Week,
    Month,
    Quarter,
}

impl Frequency {
    pub const ACCEPTED: &'static str = "'day', 'week', 'month', 'quarter'";

    /// The season a frequency implies: a week of days, a year of weeks, months or quarters.
    pub fn season_length(self) -> usize {
        match self {
            Frequency::Day => 7,
            Frequency::Week => 52,
            Frequency::Month => 12,
            Frequency::Quarter => 4,
        }
    }

    /// The horizon when the caller gives none: one season, except a quarter (13 weeks) for
    /// weekly data, where a whole year ahead is rarely what is planned.
    pub fn default_horizon(self) -> usize {
        match self {
            Frequency::Week => 13,
            other => other.season_length(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Frequency::Day => "day",
            Frequency::Week => "week",
            Frequency::Month => "month",
            Frequency::Quarter => "quarter",
        }
    }

    pub fn parse(name: &str) -> Result<Frequency> {
        match name.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Ok(Frequency::Day),
            "week" | "weekly" => Ok(Frequency::Week),
            "month" | "monthly" => Ok(Frequency::Month),
            "quarter" | "quarterly" => Ok(Frequency::Quarter),
            _ => Err(CrmError::bad_argument("options.frequency", name, Frequency::ACCEPTED)),
        }
    }
}

/// How the SQL layer fills the periods a series has no row for (see [`fill_gaps`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// No row means no sales: 0.
    Zero,
    /// A straight line between the neighbouring known values (the nearest one at the ends).
    Interpolate,
}

/// The forecasting models, by the name the options and the model registry use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelName {
    /// The mean of the history.
    Mean,
    /// The last value.
    Naive,
    /// The value one season back.
    SeasonalNaive,
    /// Simple exponential smoothing.
    Ses,
    /// Holt's linear trend.
    Holt,
    /// Holt's damped trend.
    Damped,
    /// Holt–Winters: damped trend and additive season (seasons of 2 to 24 periods).
    HoltWinters,
    /// The Theta method, seasonally adjusted.
    Theta,
    /// Croston's method, SBA variant (intermittent demand).
    Croston,
    /// The mean of the same period in past seasons, moved to the recent level.
    SeasonalAverage,
    /// A shrunk seasonal-dummy regression taken out, simple exponential smoothing of the rest.
    Decomposed,
    /// The mean of the forecasts of its members (see [`FittedSeries::members`]).
    Ensemble,
}

impl ModelName {
    pub const ALL: [ModelName; 12] = [
        ModelName::Mean,
        ModelName::Naive,
        ModelName::SeasonalNaive,
        ModelName::Ses,
        ModelName::Holt,
        ModelName::Damped,
        ModelName::HoltWinters,
        ModelName::Theta,
        ModelName::Croston,
        ModelName::SeasonalAverage,
        ModelName::Decomposed,
        ModelName::Ensemble,
    ];

    pub const ACCEPTED: &'static str = "'auto' or a list of 'mean', 'naive', 'seasonal_naive', 'ses', 'holt', 'damped', 'holt_winters', 'theta', 'croston', \
                                        'seasonal_average', 'decomposed', 'ensemble'";

    pub fn name(self) -> &'static str {
        match self {
            ModelName::Mean => "mean",
            ModelName::Naive => "naive",
            ModelName::SeasonalNaive => "seasonal_naive",
            ModelName::Ses => "ses",
            ModelName::Holt => "holt",
            ModelName::Damped => "damped",
            ModelName::HoltWinters => "holt_winters",
            ModelName::Theta => "theta",
            ModelName::Croston => "croston",
            ModelName::SeasonalAverage => "seasonal_average",
            ModelName::Decomposed => "decomposed",
            ModelName::Ensemble => "ensemble",
        }
    }

    pub fn parse(name: &str) -> Result<ModelName> {
        let wanted = name.trim().to_ascii_lowercase();
        ModelName::ALL.into_iter().find(|m| m.name() == wanted).ok_or_else(|| CrmError::bad_argument("options.models", name, ModelName::ACCEPTED))
    }
}

/// What a forecast is asked to do. `Default` is the automatic choice on weekly data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForecastOptions {
    pub frequency: Frequency,
    /// Periods to forecast; None: [`Frequency::default_horizon`]. Intervals are calibrated
    /// for these steps, so a fitted series forecasts at most this far.
    pub horizon: Option<usize>,
    /// Periods per season; None: [`Frequency::season_length`]; 1: no season.
    pub season_length: Option<usize>,
    /// The candidate models; None: the automatic set for each series (see `select.rs`).
    pub models: Option<Vec<ModelName>>,
    /// Rolling-origin windows of cross-validation. More windows choose more reliably and
    /// calibrate intervals on more errors, at the cost of a fit per window and candidate.
    pub cv_windows: usize,
    /// The default level of the prediction intervals, in (0, 1).
    pub level: f64,
    /// Gap filling, applied by the caller before fitting.
    pub fill: Fill,
    /// Kept with the model for reproducibility; the current models are deterministic and
    /// draw no random numbers.
    pub seed: u64,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions { frequency: Frequency::Week, horizon: None, season_length: None, models: None, cv_windows: 3, level: 0.8, fill: Fill::Zero, seed: 42 }
    }
}

/// Upper bounds that keep a typo from asking for days of work.
const MAX_HORIZON: usize = 10_000;
const MAX_SEASON: usize = 10_000;
const MAX_CV_WINDOWS: usize = 100;

impl ForecastOptions {
    pub const KEYS: &'static str = "frequency, horizon, season_length, models, cv_windows, level, fill, seed";

    pub fn horizon(&self) -> usize {
        self.horizon.unwrap_or_else(|| self.frequency.default_horizon())
    }

    pub fn season_length(&self) -> usize {
        self.season_length.unwrap_or_else(|| self.frequency.season_length())
    }

    /// Reads `options jsonb` (NULL: all defaults); each bad value is an error naming its
    /// key.
    pub fn from_json(value: &Value) -> Result<ForecastOptions> {
        let empty = Map::new();
        let object = options::object(value, &empty, "{\"frequency\": \"week\", \"horizon\": 13}")?;
        let mut o = ForecastOptions::default();
        for (key, v) in object {
            match key.as_str() {
                "frequency" => o.frequency = Frequency::parse(&options::text(key, v)?)?,
                "horizon" => o.horizon = Some(options::integer(key, v, 1, MAX_HORIZON as u64)? as usize),
                "season_length" => o.season_length = Some(options::integer(key, v, 1, MAX_SEASON as u64)? as usize),
                "models" => {
                    o.models = match v {
                        Value::String(s) if s.trim().eq_ignore_ascii_case("auto") => None,
                        Value::String(s) => Some(vec![ModelName::parse(s)?]),
                        Value::Array(items) if !items.is_empty() => {
                            Some(items.iter().map(|i| ModelName::parse(&options::text(key, i)?)).collect::<Result<Vec<_>>>()?)
                        }
                        _ => return Err(CrmError::bad_argument("options.models", v, ModelName::ACCEPTED)),
                    }
                }
                "cv_windows" => o.cv_windows = options::integer(key, v, 1, MAX_CV_WINDOWS as u64)? as usize,
                "level" => o.level = options::number(key, v, 0.0, 1.0, "a number between 0 and 1 (exclusive), such as 0.8")?,
                "fill" => {
                    o.fill = match options::text(key, v)?.trim().to_ascii_lowercase().as_str() {
                        "zero" => Fill::Zero,
                        "interpolate" => Fill::Interpolate,
                        _ => return Err(CrmError::bad_argument("options.fill", v, "'zero', 'interpolate'")),
                    }
                }
                "seed" => o.seed = options::integer(key, v, 0, i64::MAX as u64)?,
                _ => return Err(options::unknown(key, "forecasting", ForecastOptions::KEYS)),
            }
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks values set in Rust (from_json checks as it reads).
    pub fn validate(&self) -> Result<()> {
        if let Some(h) = self.horizon {
            if h == 0 || h > MAX_HORIZON {
                return Err(CrmError::bad_argument("options.horizon", h, &format!("an integer from 1 to {MAX_HORIZON}")));
            }
        }
        if let Some(m) = self.season_length {
            if m == 0 || m > MAX_SEASON {
                return Err(CrmError::bad_argument("options.season_length", m, &format!("an integer from 1 (no season) to {MAX_SEASON}")));
            }
        }
        if self.cv_windows == 0 || self.cv_windows > MAX_CV_WINDOWS {
            return Err(CrmError::bad_argument("options.cv_windows", self.cv_windows, &format!("an integer from 1 to {MAX_CV_WINDOWS}")));
        }
        check_level(self.level, "options.level")?;
        if let Some(models) = &self.models {
            if models.is_empty() {
                return Err(CrmError::bad_argument("options.models", "[]", ModelName::ACCEPTED));
            }
        }
        Ok(())
    }
}

fn check_level(level: f64, argument: &str) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(CrmError::bad_argument(argument, level, "a number between 0 and 1 (exclusive), such as 0.8"))
    }
}

/// A regular series: one value per period, oldest first, no gaps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub values: Vec<f64>,
}

/// The state a model ends the history in, where it has one: the level, the trend (per
/// period), its damping (1: none, 0: no trend) and the seasonal effects of the next
/// season's periods, first forecast period first (empty: no season).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Components {
    pub level: f64,
    pub trend: f64,
    pub damping: f64,
    pub season: Vec<f64>,
}

/// One model's fit: point forecasts, in-sample one-step residuals (where it has them),
/// parameters and components.
pub(crate) struct ModelFit {
    pub mean: Vec<f64>,
    pub residuals: Vec<f64>,
    pub params: Vec<(String, f64)>,
    pub components: Option<Components>,
}

/// One forecast step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// A series' chosen model, its forecasts and what its intervals are made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedSeries {
    pub model: ModelName,
    /// The models an ensemble averages (empty for a single model).
    pub members: Vec<ModelName>,
    pub season_length: usize,
    pub n_obs: usize,
    /// The default interval level (options.level), for callers that ask for none.
    pub level: f64,
    /// Cross-validated mean absolute error of each candidate, in candidate order (empty
    /// when the series was too short to cross-validate).
    pub cv_mae: Vec<(ModelName, f64)>,
    /// The chosen model's parameters (an ensemble: each member's, prefixed by its name).
    pub params: Vec<(String, f64)>,
    pub components: Option<Components>,
    /// Point forecasts for steps 1..=horizon.
    mean: Vec<f64>,
    /// The error size of each step (see `select::conformal`).
    scale: Vec<f64>,
    /// Absolute errors over their step's scale, ascending.
    scores: Vec<f64>,
    /// No value of the history was negative: interval ends are kept at or above 0.
    nonnegative: bool,
}

impl FittedSeries {
    /// Why a stored fit cannot be used, if it cannot (the registry's structural check:
    /// stored bytes are not trusted).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.mean.is_empty() || self.scale.len() != self.mean.len() {
            return Err(format!("{} forecasts with {} error scales", self.mean.len(), self.scale.len()));
        }
        if !self.mean.iter().chain(&self.scale).chain(&self.scores).all(|v| v.is_finite()) {
            return Err("a forecast, scale or score is not a finite number".into());
        }
        if !self.scores.windows(2).all(|w| w[0] <= w[1]) {
            return Err("conformal scores are not sorted".into());
        }
        check_level(self.level, "level").map_err(|e| e.message().to_string())
    }

    pub fn model_name(&self) -> &'static str {
        self.model.name()
    }

    /// The steps this fit can forecast.
    pub fn horizon(&self) -> usize {
        self.mean.len()
    }

    pub fn components(&self) -> Option<&Components> {
        self.components.as_ref()
    }

    /// Point forecasts and intervals at `level` for steps 1..=horizon.
    pub fn forecast(&self, horizon: usize, level: f64) -> Result<Vec<Point>> {
        check_level(level, "level")?;
        if horizon == 0 || horizon > self.mean.len() {
            return Err(CrmError::InvalidArgument(format!(
                "invalid value for argument \"horizon\": \"{horizon}\"; this model was trained for a horizon of {} periods: \
                 ask for 1 to {} periods, or train again with a larger options.horizon",
                self.mean.len(),
                self.mean.len()
            )));
        }
        let q = select::conformal_quantile(&self.scores, level);
        Ok((0..horizon)
            .map(|k| {
                let (mean, half) = (self.mean[k], q * self.scale[k]);
                let (mut lo, hi) = (mean - half, mean + half);
                if self.nonnegative {
                    lo = lo.max(0.0);
                }
                Point { mean, lo, hi }
            })
            .collect())
    }
}

/// Fits one series: see the module comment. Errors: an empty series, a NaN or infinite
/// value, or bad options.
pub fn fit_series(values: &[f64], options: &ForecastOptions) -> Result<FittedSeries> {
    options.validate()?;
    check_values(values)?;
    Ok(select::fit(values, options))
}

fn check_values(values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(CrmError::InvalidArgument("cannot forecast an empty series: it needs at least one value".into()));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(CrmError::InvalidArgument(format!(
            "value {} of the series (period {}) is {}: forecasting needs finite numbers; fill or drop it first",
            values[i],
            i + 1,
            if values[i].is_nan() { "NaN" } else { "infinite" }
        )));
    }
    if let Some(i) = values.iter().position(|v| v.abs() > MAX_MAGNITUDE) {
        return Err(CrmError::InvalidArgument(format!(
            "value {} of the series (period {}) is beyond ±1e100: the models square their errors, which must fit a double precision; \
             rescale the series first",
            values[i],
            i + 1
        )));
    }
    Ok(())
}

/// The largest magnitude accepted: squared errors summed over a long series stay finite.
const MAX_MAGNITUDE: f64 = 1e100;

/// Series per pool task: enough to amortise the hand-out, few enough to balance.
const SERIES_PER_TASK: usize = 4;

/// Fits every series on pg_crm's thread pool; results in series order, the same whatever
/// the threads. `should_stop` is polled between series (a cancel returns
/// `CrmError::Canceled`). The first bad series (in order) fails the call, named by its
/// position (1-based).
pub fn fit_many(series: &[&[f64]], options: &ForecastOptions, should_stop: &dyn Fn() -> bool) -> Result<Vec<FittedSeries>> {
    options.validate()?;
    let chunks = pool::map_ranges(series.len(), SERIES_PER_TASK, 0, should_stop, |range, checkpoint| {
        let mut fits = Vec::with_capacity(range.len());
        for i in range {
            if checkpoint.stop() {
                break;
            }
            fits.push(check_values(series[i]).map(|()| select::fit(series[i], options)).map_err(|e| match e {
                CrmError::InvalidArgument(m) => CrmError::InvalidArgument(format!("series {}: {m}", i + 1)),
                other => other,
            }));
        }
        fits
    })?;
    chunks.into_iter().flatten().collect()
}

/// Turns the periods of a series, None where a period has no row, into regular values.
pub fn fill_gaps(values: &[Option<f64>], fill: Fill) -> Vec<f64> {
    match fill {
        Fill::Zero => values.iter().map(|v| v.unwrap_or(0.0)).collect(),
        Fill::Interpolate => {
            let known: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
            if known.is_empty() {
                return vec![0.0; values.len()];
            }
            let mut out = Vec::with_capacity(values.len());
            let mut next = 0usize;
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    out.push(*v);
                    next += 1;
                    continue;
                }
                let after = known.get(next).copied();
                let before = next.checked_sub(1).map(|k| known[k]);
                out.push(match (before, after) {
                    (Some(b), Some(a)) => {
                        let (vb, va) = (values[b].unwrap_or(0.0), values[a].unwrap_or(0.0));
                        vb + (va - vb) * (i - b) as f64 / (a - b) as f64
                    }
                    (Some(b), None) => values[b].unwrap_or(0.0),
                    (None, Some(a)) => values[a].unwrap_or(0.0),
                    (None, None) => 0.0,
                });
            }
            out
        }
    }
}

#[cfg(test)]
mod tests;
