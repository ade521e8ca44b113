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
//! the models for long seasons such as 52 weeks with two or three years of history), and
//! `global`: one gradient-boosted tree model over all the series of a panel, with lags of
//! at least the horizon, rolling statistics, the position in the season and covariates
//! known in the future (holidays, promotions, prices). [`fit_panel`] fits it once per
//! cross-validation origin (on every series' data before it) and once on everything, so
//! each series compares it with its own models on the same windows, averages it into
//! the ensemble, and calibrates its intervals on its errors like any other candidate.
//!
//! Covariates reach the global model only: the per-series models forecast from the
//! series' own history.
//!
//! Everything here is plain Rust: no Postgres, deterministic, serialisable with serde.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CrmError, Result};
use crate::options;
use crate::pool;

mod croston;
mod ets;
mod global;
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
    /// Gradient-boosted trees over all the series of a panel, with covariates (see
    /// `global.rs`).
    Global,
    /// Holt–Winters with a damped trend and a multiplicative season (positive series,
    /// seasons of 2 to 24 periods). Appended: stored fits name their model by position.
    HoltWintersMultiplicative,
}

impl ModelName {
    pub const ALL: [ModelName; 14] = [
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
        ModelName::Global,
        ModelName::HoltWintersMultiplicative,
    ];

    pub const ACCEPTED: &'static str = "'auto' or a list of 'mean', 'naive', 'seasonal_naive', 'ses', 'holt', 'damped', 'holt_winters', 'theta', 'croston', \
                                        'seasonal_average', 'decomposed', 'ensemble', 'global', 'holt_winters_multiplicative'";

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
            ModelName::Global => "global",
            ModelName::HoltWintersMultiplicative => "holt_winters_multiplicative",
        }
    }

    pub fn parse(name: &str) -> Result<ModelName> {
        let wanted = name.trim().to_ascii_lowercase();
        ModelName::ALL.into_iter().find(|m| m.name() == wanted).ok_or_else(|| CrmError::bad_argument("options.models", name, ModelName::ACCEPTED))
    }
}

/// Whether the panel's global model is among the candidates (`options.global`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalMode {
    /// On when the panel has at least [`GLOBAL_AUTO_MIN_SERIES`] series long enough for
    /// it: fewer series teach trees little that each series' own models do not know.
    #[default]
    Auto,
    On,
    Off,
}

impl GlobalMode {
    pub const ACCEPTED: &'static str = "true, false or 'auto'";
}

/// How the automatic choice picks (`options.selection`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Each series takes the model that forecast its own cross-validation windows best.
    #[default]
    PerSeries,
    /// One model for the whole panel: the candidate whose cross-validated error,
    /// relative to each series' best, is lowest on average (see [`panel_choice`]). Series
    /// that cannot run it (too short, not positive for a multiplicative season) keep
    /// their own choice. One model is easier to explain and steadier from one training to
    /// the next; per series is usually more accurate.
    Global,
}

impl Selection {
    pub const ACCEPTED: &'static str = "'per_series' or 'global'";
}

/// `global: 'auto'` turns the global model on from this many series with enough history
/// for its features. Measured on Walmart's store × department series (MASE without →
/// with it): 20 series 0.675 → 0.645, 67 series 0.725 → 0.705, 2,660 series 0.721 →
/// 0.708; so a low bound, below which a handful of series give the trees little to pool.
pub const GLOBAL_AUTO_MIN_SERIES: usize = 20;

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
    /// Seeds the global model's row draw and validation slice; the per-series models are
    /// deterministic and draw no random numbers.
    pub seed: u64,
    /// Whether the global model is a candidate when `models` is automatic (a list naming
    /// 'global' asks for it whatever this says, unless it is Off: an error).
    ///
    /// Not serialised: stored forecast models (bincode, which names no field) hold the
    /// options of release 0.6.0, and a field inside them would shift every byte after
    /// it. The forecasts it shaped are stored; the SQL layer records it with the model's
    /// hyperparameters.
    #[serde(skip)]
    pub global: GlobalMode,
    /// Per series or one model for the panel. Not serialised, like `global`.
    #[serde(skip)]
    pub selection: Selection,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            frequency: Frequency::Week,
            horizon: None,
            season_length: None,
            models: None,
            cv_windows: 3,
            level: 0.8,
            fill: Fill::Zero,
            seed: 42,
            global: GlobalMode::Auto,
            selection: Selection::PerSeries,
        }
    }
}

/// Upper bounds that keep a typo from asking for days of work.
const MAX_HORIZON: usize = 10_000;
const MAX_SEASON: usize = 10_000;
const MAX_CV_WINDOWS: usize = 100;

impl ForecastOptions {
    pub const KEYS: &'static str = "frequency, horizon, season_length, models, cv_windows, level, fill, seed, global, selection";

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
                "global" => {
                    o.global = match v {
                        Value::Bool(true) => GlobalMode::On,
                        Value::Bool(false) => GlobalMode::Off,
                        Value::String(s) if s.trim().eq_ignore_ascii_case("auto") => GlobalMode::Auto,
                        _ => return Err(CrmError::bad_argument("options.global", v, GlobalMode::ACCEPTED)),
                    }
                }
                "selection" => {
                    let text = options::text(key, v)?;
                    o.selection = match text.trim().to_ascii_lowercase().as_str() {
                        "per_series" | "series" => Selection::PerSeries,
                        "global" | "panel" => Selection::Global,
                        _ => return Err(CrmError::bad_argument("options.selection", &text, Selection::ACCEPTED)),
                    }
                }
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
            if self.global == GlobalMode::Off && models.contains(&ModelName::Global) {
                return Err(CrmError::InvalidArgument(
                    "options.global is false but options.models names 'global': drop one of them (options.global accepts true, false or 'auto')".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether a panel with `eligible` series long enough for the global model's features
    /// fits it.
    fn wants_global(&self, eligible: usize) -> bool {
        match &self.models {
            Some(models) => models.contains(&ModelName::Global),
            None => match self.global {
                GlobalMode::On => true,
                GlobalMode::Off => false,
                GlobalMode::Auto => eligible >= GLOBAL_AUTO_MIN_SERIES,
            },
        }
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
/// value, or bad options. A lone series has no panel to learn from: the global model runs
/// only when `options.models` names it.
pub fn fit_series(values: &[f64], options: &ForecastOptions) -> Result<FittedSeries> {
    let panel = Panel { covariates: Vec::new(), series: vec![PanelSeries { first: 0, values: values.to_vec(), covariates: Vec::new() }] };
    let mut fits = fit_panel(&panel, options, &|| false).map_err(|e| e.map_message(|m| m.strip_prefix("series 1: ").unwrap_or(m).to_string()))?;
    fits.pop().ok_or_else(|| CrmError::InvalidArgument("cannot forecast an empty series: it needs at least one value".into()))
}

/// Series on one calendar, with the covariates known for their history and for the
/// periods to forecast: what [`fit_panel`] fits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Covariate names, in the order of each series' `covariates` (for messages).
    pub covariates: Vec<String>,
    pub series: Vec<PanelSeries>,
}

/// One series of a [`Panel`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PanelSeries {
    /// The period number of `values[0]`, counted from an origin common to the panel: the
    /// global model's position in the season and its cross-validation origins are dates
    /// of that calendar, shared by all series.
    pub first: i64,
    /// One value per period, oldest first, no gaps (see [`fill_gaps`]).
    pub values: Vec<f64>,
    /// `covariates[c][i]`: covariate c at period `first + i`, for i in
    /// 0..values.len() + horizon (the history, then the periods to forecast); empty when
    /// the series has none. An unknown value (NaN, or a vector that ends early) counts
    /// as 0: no holiday, no promotion. A covariate without a natural 0, such as a price,
    /// must be given for every period.
    pub covariates: Vec<Vec<f64>>,
}

impl Panel {
    /// Series without covariates, all starting at period 0.
    pub fn from_values(series: &[&[f64]]) -> Panel {
        Panel { covariates: Vec::new(), series: series.iter().map(|v| PanelSeries { first: 0, values: v.to_vec(), covariates: Vec::new() }).collect() }
    }

    /// The first bad series (in order), named by its position (1-based).
    fn check(&self, horizon: usize) -> Result<()> {
        for (i, s) in self.series.iter().enumerate() {
            let named = |m: String| CrmError::InvalidArgument(format!("series {}: {m}", i + 1));
            check_values(&s.values).map_err(|e| named(e.message().to_string()))?;
            if !s.covariates.is_empty() && s.covariates.len() != self.covariates.len() {
                return Err(named(format!(
                    "{} covariate vectors for the {} covariates ({})",
                    s.covariates.len(),
                    self.covariates.len(),
                    self.covariates.join(", ")
                )));
            }
            let periods = s.values.len() + horizon;
            for (c, values) in s.covariates.iter().enumerate() {
                let name = self.covariates.get(c).map_or("?", String::as_str);
                if values.len() > periods {
                    return Err(named(format!(
                        "covariate \"{name}\" has {} values; at most {periods} are read (the {} periods of history and the horizon of {horizon})",
                        values.len(),
                        s.values.len()
                    )));
                }
                if let Some(k) = values.iter().position(|v| v.is_infinite()) {
                    return Err(named(format!("covariate \"{name}\" is infinite at period {}: give a finite number, or NaN for unknown", k + 1)));
                }
            }
        }
        Ok(())
    }
}

/// Fits every series of a panel (see the module comment): the global model first, when
/// it is asked for or `options.global` is 'auto' and the panel has enough series, then
/// each series on pg_crm's thread pool. Results in series order, the same whatever the
/// threads. `should_stop` is polled between series and before each tree (a cancel
/// returns `CrmError::Canceled`). The first bad series (in order) fails the call, named
/// by its position (1-based): "series 3: ...".
pub fn fit_panel(panel: &Panel, options: &ForecastOptions, should_stop: &dyn Fn() -> bool) -> Result<Vec<FittedSeries>> {
    options.validate()?;
    panel.check(options.horizon())?;
    let eligible = panel.series.iter().filter(|s| s.values.len() > global::min_origin(options.horizon())).count();
    let global = if options.wants_global(eligible) { global::panel_forecasts(panel, options, should_stop)? } else { vec![None; panel.series.len()] };
    let chunks = pool::map_ranges(panel.series.len(), SERIES_PER_TASK, 0, should_stop, |range, checkpoint| {
        let mut fits = Vec::with_capacity(range.len());
        for i in range {
            if checkpoint.stop() {
                break;
            }
            fits.push(select::fit(&panel.series[i].values, options, global[i].as_ref(), None));
        }
        fits
    })?;
    let mut fits: Vec<FittedSeries> = chunks.into_iter().flatten().collect();
    if options.selection == Selection::Global {
        if let Some(choice) = panel_choice(&fits) {
            // Cross-validation runs again for the series that chose otherwise: the
            // windows and the global model's forecasts are the same, only the choice is
            // imposed (keeping every series' paths from the first pass would hold them
            // all in memory at once).
            let redo: Vec<usize> = (0..fits.len()).filter(|&i| fits[i].model != choice && fits[i].cv_mae.iter().any(|(m, _)| *m == choice)).collect();
            let refits = pool::map_ranges(redo.len(), SERIES_PER_TASK, 0, should_stop, |range, checkpoint| {
                let mut refits = Vec::with_capacity(range.len());
                for k in range {
                    if checkpoint.stop() {
                        break;
                    }
                    let i = redo[k];
                    refits.push(select::fit(&panel.series[i].values, options, global[i].as_ref(), Some(choice)));
                }
                refits
            })?;
            for (i, fit) in redo.into_iter().zip(refits.into_iter().flatten()) {
                fits[i] = fit;
            }
        }
    }
    Ok(fits)
}

/// The model `selection: 'global'` gives every series: among the candidates
/// cross-validated on at least half of the series that were cross-validated, the one
/// whose error relative to each series' best candidate (1 = the best there) is lowest on
/// average, so that every series counts the same whatever its scale. Ties go to the
/// simpler model (the order of [`ModelName`]). None when no series was cross-validated.
pub fn panel_choice(fits: &[FittedSeries]) -> Option<ModelName> {
    let mut totals: std::collections::BTreeMap<ModelName, (f64, usize)> = std::collections::BTreeMap::new();
    let mut validated = 0usize;
    for fit in fits {
        let best = fit.cv_mae.iter().map(|(_, e)| *e).fold(f64::INFINITY, f64::min);
        if !(best.is_finite() && best > 0.0) {
            continue;
        }
        validated += 1;
        for (model, error) in &fit.cv_mae {
            let total = totals.entry(*model).or_default();
            total.0 += if error.is_finite() { error / best } else { 1e6 };
            total.1 += 1;
        }
    }
    totals
        .into_iter()
        .filter(|(_, (_, count))| 2 * count >= validated && *count > 0)
        .map(|(model, (sum, count))| (model, sum / count as f64))
        .fold(None, |best: Option<(ModelName, f64)>, (model, score)| match best {
            Some((_, b)) if b <= score => best,
            _ => Some((model, score)),
        })
        .map(|(model, _)| model)
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

/// Fits series without covariates as a panel whose series all start at period 0 (see
/// [`fit_panel`]: errors, order, cancel).
pub fn fit_many(series: &[&[f64]], options: &ForecastOptions, should_stop: &dyn Fn() -> bool) -> Result<Vec<FittedSeries>> {
    fit_panel(&Panel::from_values(series), options, should_stop)
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
